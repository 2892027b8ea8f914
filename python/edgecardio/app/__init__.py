"""The EdgeCardio app: a Streamlit page that shows the ECG, the diagnosis and why.

    pip install "edgecardio[app]"
    edgecardio app [--port 8501]

:func:`serve` runs ``streamlit run`` on :mod:`edgecardio.app.page`; :mod:`edgecardio.app.logic` holds
what the page computes and draws (reading uploads, the occlusion map, the ECG paper, the report).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "page.py"
DEFAULT_PORT = 8501


def streamlit_command(port: int = DEFAULT_PORT, address: str = "localhost") -> list:
    """The command that serves the app (no browser opened, no usage statistics sent)."""
    return [sys.executable, "-m", "streamlit", "run", str(PAGE), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--global.developmentMode", "false", "--client.toolbarMode", "minimal"]


def serve(port: int = DEFAULT_PORT, address: str = "localhost") -> None:
    """Serve the app until interrupted: this process becomes the Streamlit server (``exec``), so
    Ctrl+C and signals reach it directly and no orphan server is left behind.

    Raises
    ------
    ImportError
        Streamlit or matplotlib is not installed (the ``app`` extra).
    ValueError
        ``port`` is not a TCP port number.
    """
    missing = [m for m in ("streamlit", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"the app needs {' and '.join(missing)}: pip install 'edgecardio[app]'")
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"--port must be a TCP port (1-65535), got {port}")
    print(f"EdgeCardio app: http://{address}:{port}  (Ctrl+C to stop)", flush=True)
    cmd = streamlit_command(port, address)
    os.execv(cmd[0], cmd)

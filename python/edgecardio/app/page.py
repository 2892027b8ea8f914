"""The Streamlit page of the EdgeCardio app: ``edgecardio app`` runs ``streamlit run`` on this file.

Layout only; what is computed and drawn lives in :mod:`edgecardio.app.logic`.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Dict, List, Optional

import numpy as np
import streamlit as st

import edgecardio
from edgecardio.app import logic
from edgecardio.classifier import LEAD_NAMES

SOURCES = ("Bundled example", "Upload")
SEXES = ("unknown", "male", "female")
DEMO_KEYS = ("age", "sex", "height_cm", "weight_kg")


@st.cache_resource(show_spinner=False)
def _classifier(model: Optional[str], precision: str, backend: str):
    return edgecardio.Classifier(model, precision=precision, backend=backend)


def _models() -> List[Any]:
    """The packaged models (read each run: a few small JSON cards), or [] where this version of
    edgecardio cannot list them (the page then loads its default model)."""
    lister = getattr(edgecardio, "models", None)
    return list(lister()) if callable(lister) else []


@st.cache_data(show_spinner=False)
def _examples():
    return logic.load_examples()


def _memo(key, compute):
    """Recompute only when ``key`` changes: widgets that only change the display rerun the script,
    and the diagnosis, the occlusion map and the figures are the slow part. One entry per kind."""
    memo = st.session_state.setdefault("_memo", {})
    kind = key[0]
    if kind not in memo or memo[kind][0] != key:
        memo[kind] = (key, compute())
    return memo[kind][1]


def _record_key(rec: logic.Record) -> tuple:
    return (rec.source, rec.fs_hz, rec.gain_per_mv, str(rec.signal.dtype),
            hashlib.sha1(np.ascontiguousarray(rec.signal).tobytes()).hexdigest())


def _sidebar(examples) -> Dict[str, Any]:
    sb = st.sidebar
    sb.title("EdgeCardio")
    sb.caption("12-lead ECG: NORM, MI, STTC, CD, HYP")
    source = sb.radio("Record", SOURCES, key="source")
    opts: Dict[str, Any] = {"source": source}
    if source == SOURCES[0]:
        idx = sb.selectbox("Example (PTB-XL fold 9)", range(len(examples)), key="example",
                           format_func=lambda i: logic.example_title(examples[i]))
        opts["example"] = idx
    owner = opts.get("example", "upload")
    if st.session_state.get("_demographics_of") != owner:
        # A new example brings its patient's demographics, an upload starts unknown; the user may
        # change them afterwards.
        demo = logic.example_demographics(examples[owner]) if owner != "upload" else dict.fromkeys(DEMO_KEYS)
        for k in DEMO_KEYS:
            st.session_state[k] = demo[k] if k != "sex" else (demo[k] or "unknown")
        st.session_state["_demographics_of"] = owner
    sb.subheader("Demographics")
    age = sb.number_input("Age (years)", min_value=0.0, max_value=120.0, value=None, step=1.0, key="age")
    sex = sb.selectbox("Sex", SEXES, key="sex")
    height = sb.number_input("Height (cm)", min_value=30.0, max_value=250.0, value=None, step=1.0, key="height_cm")
    weight = sb.number_input("Weight (kg)", min_value=1.0, max_value=350.0, value=None, step=1.0, key="weight_kg")
    opts["demographics"] = {"age": age, "sex": None if sex == "unknown" else sex, "height_cm": height,
                            "weight_kg": weight}
    sb.subheader("Model")
    models = _models()
    if models:
        by_name = {m.name: m for m in models}
        default = next((i for i, m in enumerate(models) if m.default), 0)
        opts["model"] = sb.selectbox("Model", list(by_name), index=default, key="model",
                                     format_func=lambda n: logic.model_choice_label(by_name[n]))
        sb.caption(by_name[opts["model"]].description)
    else:
        opts["model"] = None
    opts["precision"] = sb.selectbox("Precision", ("int8", "fp32"), key="precision")
    backends = ("native", "onnxruntime") if edgecardio.HAS_NATIVE_ORT else ("onnxruntime",)
    opts["backend"] = sb.selectbox("Backend", backends, key="backend")
    sb.subheader("Display")
    opts["explain"] = sb.checkbox("Explain: occlusion map", value=True, key="explain")
    opts["segment_s"] = sb.selectbox("Occlusion segment (s)", (0.5, 1.0, 0.25), key="segment_s")
    opts["model_input"] = sb.checkbox("Show the model's 100 Hz input", value=False, key="model_input")
    return opts


def _upload_record() -> Optional[logic.Record]:
    files = st.file_uploader("ECG record: a .npy array, or a WFDB record (select its .hea and .dat together)",
                             accept_multiple_files=True, key="upload")
    with st.expander(".npy options (a bare array does not say its rate, units or layout)",
                     expanded=any(f.name.lower().endswith(".npy") for f in files or [])):
        c1, c2, c3, c4 = st.columns(4)
        fs = c1.number_input("Sampling rate (Hz)", min_value=1.0, value=500.0, step=1.0, key="npy_fs")
        units = c2.selectbox("Units", logic.UNITS, key="npy_units")
        gain = c3.number_input("Gain (counts per mV)", min_value=0.001, value=1000.0, key="npy_gain",
                               disabled=units != logic.UNITS[0])
        layout = c4.selectbox("Layout", logic.LAYOUTS, key="npy_layout")
    if not files:
        st.info("Upload a record to diagnose it. Formats: " + _formats() + ".")
        return None
    opt = logic.NpyOptions(fs_hz=fs, units=units, gain_per_mv=gain, layout=layout)
    return logic.read_upload([(f.name, f.getvalue()) for f in files], opt)


def _formats() -> str:
    base = ".npy arrays, WFDB records (.hea + .dat)"
    if hasattr(edgecardio, "read_record"):
        return base + ", and the other formats edgecardio.read_record reads"
    return base


def _summary(d: logic.Diagnosis) -> None:
    p = d.prediction
    st.markdown(f"### Diagnosis: {', '.join(p.labels) or 'no class over its threshold'}")
    st.caption(f"Record: {d.record.source} ({d.record.fs_hz} Hz, {d.record.duration_s:g} s"
               f"{', the model reads the first 10 s' if d.record.duration_s > logic.WINDOW_S else ''})"
               + "".join(f"; {n}" for n in d.record.notes))
    c1, c2, c3 = st.columns([5, 4, 4])
    with c1:
        png = _memo(("probabilities", d.page_key), lambda: logic.figure_png(logic.probabilities_figure(p)))
        st.image(png, caption="Probabilities and thresholds")
    with c2:
        import pandas as pd

        st.dataframe(pd.DataFrame({
            "class": list(edgecardio.CLASSES),
            "probability": [round(p.probabilities[c], 4) for c in edgecardio.CLASSES],
            "threshold": [round(p.thresholds[c], 4) for c in edgecardio.CLASSES],
            "label": ["yes" if c in p.labels else "" for c in edgecardio.CLASSES]}), hide_index=True)
    with c3:
        m, lat = d.model, p.latency_ms
        st.markdown(f"**Latency** preprocess {lat['preprocess']:.2f} ms, inference {lat['inference']:.2f} ms, "
                    f"total {lat['total']:.2f} ms")
        st.markdown(f"**Engine** {m['engine']}, {m['backend']} backend, ONNX Runtime {m['onnxruntime']}")
        st.markdown(f"**Model** {m.get('packaged_name') or m['name']} {m.get('version') or ''} "
                    f"({m['precision']}, {m['file']})")
        if m["placeholder"]:
            st.warning("The packaged model is an untrained placeholder: its probabilities are meaningless.")
        if d.record.meta:
            mt = d.record.meta
            st.markdown(f"**Cardiologists (PTB-XL {mt['ecg_id']})**: {', '.join(mt['superclasses'])}")
            st.markdown("\n".join(f"- {s['code']} ({s['likelihood']:g} %): {s['description']}"
                                  for s in mt["statements"]))
            st.caption(f"Report: {mt['report']}")
    q = getattr(p, "quality", None)
    if q is None:
        st.caption("Per-lead signal-quality indices: not computed for this prediction "
                   "(flat and saturated leads are checked and marked).")
    elif not q.trusted:
        st.error(f"Signal quality: this diagnosis is not trustworthy ({q.reason}).")
    warn = logic.lead_warnings(p)
    if warn:
        st.warning("Lead warnings (marked on the tracing): " + "; ".join(f"{k}: {', '.join(v)}" for k, v in warn.items()))


def _tracing(d: logic.Diagnosis, opts: Dict[str, Any]) -> Optional[str]:
    st.markdown("#### 12-lead ECG")
    overlay = None
    if d.occlusion is not None:
        choices = ["none"] + logic.explained_classes(d.prediction)
        pick = st.radio("Tint with the occlusion map of", choices, index=1, horizontal=True, key="overlay")
        overlay = None if pick == "none" else pick
    st.image(_memo(("clinical", d.page_key, overlay), lambda: logic.figure_png(logic.clinical_figure(d, overlay))),
             caption="Standard layout (3 x 4 leads of 2.5 s, lead II rhythm strip), 25 mm/s, 10 mm/mV, "
                     "1 mV calibration pulse; 1 mm / 5 mm grid."
                     + (f" Tint: where blanking {d.occlusion_segment_s:g} s of a lead lowers the log-odds of "
                        f"{overlay} (red: evidence for it) or raises them (blue); full tint at "
                        f"{logic.OVERLAY_FULL_SCALE:g}." if overlay else ""))
    if d.occlusion is not None:
        classes = logic.explained_classes(d.prediction)
        st.markdown("#### Why: occlusion map")
        st.image(_memo(("occlusion", d.page_key), lambda: logic.figure_png(logic.occlusion_figure(d, classes))),
                 caption=f"Drop in log-odds when one lead is blanked for {d.occlusion_segment_s:g} s, for "
                         f"{' and '.join(classes)} ({'predicted' if d.prediction.labels else 'most probable, none predicted'}); "
                         f"{12 * int(round(logic.WINDOW_S / d.occlusion_segment_s)) + 1} model runs in "
                         f"{d.occlusion_ms:.0f} ms.")
    if opts["model_input"]:
        st.markdown("#### The model's input")
        st.image(_memo(("model_input", d.page_key), lambda: logic.figure_png(logic.model_input_figure(d))))
    return overlay


def _downloads(d: logic.Diagnosis, overlay: Optional[str]) -> None:
    c1, c2 = st.columns(2)
    base = d.record.source.split("/")[-1].rsplit(".", 1)[0].replace(" ", "_") or "record"
    c1.download_button("Download the result (JSON)", json.dumps(logic.result_dict(d), indent=2),
                       file_name=f"{base}_edgecardio.json", mime="application/json", key="dl_json")
    # made on click only: the A4 page is the slowest figure
    c2.download_button("Download a one-page report (PNG)", lambda: logic.report_png(d, overlay),
                       file_name=f"{base}_edgecardio.png", mime="image/png", key="dl_png")


def _attr(obj, *names, default=None):
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


def _live(d: logic.Diagnosis, clf, examples: List[logic.Record]) -> None:
    with st.expander("Live mode: replay through the streaming monitor"):
        monitor_cls = getattr(edgecardio, "Monitor", None)
        if monitor_cls is None:
            st.info("Live mode is not available in this version of edgecardio: it needs edgecardio.Monitor "
                    "(the streaming monitor).")
            return
        what = st.radio("Stream", ("this record", "the bundled examples one after another"), key="live_what")
        speed = st.select_slider("Speed (x real time)", (1, 2, 5, 10, 50), value=10, key="live_speed")
        if not st.button("Replay", key="live_go"):
            return
        recs = [d.record] if what == "this record" else examples
        fs = recs[0].fs_hz
        if any(r.fs_hz != fs or r.signal.dtype != recs[0].signal.dtype or r.gain_per_mv != recs[0].gain_per_mv
               for r in recs):
            st.error("the records differ in rate or units: replay one at a time")
            return
        stream = np.concatenate([r.signal for r in recs], axis=1)
        strip, status = st.empty(), st.empty()
        rows = []
        try:
            mon = monitor_cls(fs, classifier=clf, gain_per_mv=recs[0].gain_per_mv, **d.demographics)
            chunk = max(1, fs // 4)
            for i0 in range(0, stream.shape[1], chunk):
                for r in mon.push(stream[:, i0:i0 + chunk]) or []:
                    t = float(_attr(r, "end_s", "t_end_s", "time_s", "t_s", default=(i0 + chunk) / fs))
                    pred = _attr(r, "prediction")
                    stable = _attr(r, "stable_labels", "labels", default=())
                    raw = _attr(pred, "labels", default=()) if pred is not None else ()
                    wq = _attr(r, "quality")
                    rows.append({"stream_s": round(t, 2), "stable": ", ".join(stable), "raw": ", ".join(raw),
                                 "quality": "-" if wq is None else ("ok" if wq.trusted else wq.reason)})
                    status.markdown(f"**{t:.1f} s**: {', '.join(stable) or '-'}")
                    n = int(t * fs)
                    ii = LEAD_NAMES.index("II")
                    seg = stream[ii, max(0, n - 10 * fs):n]
                    strip.line_chart(seg / recs[0].gain_per_mv if seg.dtype.kind in "iu" else seg, height=150)
                time.sleep(chunk / fs / speed)
        except Exception as e:  # an API this page does not know yet: say so, keep the page
            st.error(f"live mode stopped: {type(e).__name__}: {e}")
        if rows:
            import pandas as pd

            st.dataframe(pd.DataFrame(rows), hide_index=True)


def _page() -> None:
    examples, attribution = _examples()
    opts = _sidebar(examples)
    st.title("EdgeCardio")
    clf = _classifier(opts["model"], opts["precision"], opts["backend"])
    try:
        rec = examples[opts["example"]] if opts["source"] == SOURCES[0] else _upload_record()
        if rec is None:
            return
        key = ("diagnosis", _record_key(rec), tuple(sorted(opts["demographics"].items())), opts["model"],
               opts["precision"], opts["backend"], opts["explain"], opts["segment_s"])
        d = _memo(key, lambda: logic.diagnose(clf, rec, opts["demographics"], explain=opts["explain"],
                                              segment_s=opts["segment_s"]))
        d.page_key = key  # the figures below are memoised per diagnosis
    except logic.UploadError as e:
        st.error(str(e))
        return
    _summary(d)
    overlay = _tracing(d, opts)
    _downloads(d, overlay)
    _live(d, clf, examples)
    st.caption(f"Examples: {attribution['source']}, {attribution['license']}. {attribution['citation']} "
               "Research software, not a medical device.")


def main() -> None:
    st.set_page_config(page_title="EdgeCardio", layout="wide")
    try:
        _page()
    except Exception as e:  # never a traceback in the page: name the problem, keep the app usable
        st.error(f"Something went wrong ({type(e).__name__}: {e}). Choose another record or adjust the options.")


if __name__ == "__main__":
    main()

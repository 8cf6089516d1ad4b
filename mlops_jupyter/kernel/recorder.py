"""Outputs that stream live while they are recorded, and their replay (DESIGN §5).

While a stage body runs, ``sys.stdout``/``sys.stderr`` are teed and the
shell's display publisher and display hook are wrapped on the instance, so
every output still reaches the user at once and is also appended, in order,
to one event list of nbformat v4 output dicts. ``clear_output`` collapses
what came before it (a tqdm bar keeps its final state); carriage returns in
streams collapse the same way.
"""

from __future__ import annotations

import copy
import re
import sys
from typing import Any

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_CR = re.compile(r"[^\n]*\r(?!\n)")  # a line overwritten by a carriage return


def collapse_carriage_returns(text: str) -> str:
    return _CR.sub("", text)


class _Tee:
    """Stands in for sys.stdout/sys.stderr: writes through, and records."""

    def __init__(self, stream, name: str, recorder: OutputRecorder):
        self._stream, self._name, self._recorder = stream, name, recorder

    def write(self, text: str) -> int:
        self._recorder.add_stream(self._name, text)
        return self._stream.write(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class OutputRecorder:
    def __init__(self, shell, before_result=None):
        self.shell = shell
        self.events: list[dict] = []
        self._showing_result = False
        self.before_result = before_result  # called just before the cell's result is shown

    # --- recording --------------------------------------------------------------

    def add_stream(self, name: str, text: str) -> None:
        if not text or self._showing_result:  # a terminal prints Out[n] to stdout: not a stream
            return
        last = self.events[-1] if self.events else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.events.append({"output_type": "stream", "name": name, "text": text})

    def _on_publish(self, data, metadata=None, *args, **kwargs):
        transient = kwargs.get("transient") or {}
        display_id = transient.get("display_id")
        event = {"output_type": "display_data", "data": copy.deepcopy(dict(data)), "metadata": copy.deepcopy(dict(metadata or {}))}
        if kwargs.get("update") and display_id:
            for earlier in self.events:
                if earlier.get("display_id") == display_id:
                    earlier.update(data=event["data"], metadata=event["metadata"])
        else:
            if display_id:
                event["display_id"] = display_id
            self.events.append(event)
        return self._publish(data, metadata, *args, **kwargs)

    def _on_clear(self, wait=False, *args, **kwargs):
        self.events.clear()
        return self._clear(wait, *args, **kwargs)

    def _on_result(self, format_dict, md_dict=None):
        if self.before_result is not None:
            self.before_result()  # what the stage shows after its code comes before the result, as replayed
        self.events.append({
            "output_type": "execute_result",
            "data": copy.deepcopy(dict(format_dict)),
            "metadata": copy.deepcopy(dict(md_dict or {})),
            "execution_count": None,
        })
        self._showing_result = True
        try:
            return self._write_format(format_dict, md_dict)
        finally:
            self._showing_result = False

    def __enter__(self) -> OutputRecorder:
        self._streams = sys.stdout, sys.stderr
        sys.stdout = _Tee(sys.stdout, "stdout", self)
        sys.stderr = _Tee(sys.stderr, "stderr", self)
        pub, hook = self.shell.display_pub, self.shell.displayhook
        self._publish, self._clear = pub.publish, pub.clear_output
        self._write_format = hook.write_format_data
        # What the instances had of their own before (another tool's wrapper), to put back.
        self._saved = [(owner, name, owner.__dict__.get(name)) for owner, name in (
            (pub, "publish"), (pub, "clear_output"), (hook, "write_format_data"))]
        pub.publish, pub.clear_output = self._on_publish, self._on_clear
        hook.write_format_data = self._on_result
        return self

    def __exit__(self, *exc) -> None:
        for stream in (sys.stdout, sys.stderr):
            flush = getattr(stream, "flush", None)
            if flush:
                flush()
        sys.stdout, sys.stderr = self._streams
        for owner, name, own in self._saved:
            if own is None:
                owner.__dict__.pop(name, None)  # back to the class's method
            else:
                owner.__dict__[name] = own

    def outputs(self) -> list[dict]:
        """The recorded outputs, ready to store: streams collapsed, widgets as their fallback."""
        outputs = []
        for event in self.events:
            event = dict(event)
            event.pop("display_id", None)
            if event["output_type"] == "stream":
                event["text"] = collapse_carriage_returns(event["text"])
            elif WIDGET_MIME in event["data"]:
                event["data"] = {k: v for k, v in event["data"].items() if k != WIDGET_MIME}
                if not event["data"]:
                    continue
            outputs.append(event)
        return outputs


class ReplayedResult:
    """The recorded value of a cell's last expression, shown again as its execute_result."""

    def __init__(self, data: dict, metadata: dict):
        self._data, self._metadata = data, metadata

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self._data, self._metadata

    def __repr__(self) -> str:
        text = self._data.get("text/plain", "")
        return "".join(text) if isinstance(text, list) else text


def replay(shell, outputs: list[dict]) -> ReplayedResult | None:
    """Emit recorded outputs in order; the execute_result comes back to be the cell's result."""
    result = None
    for output in outputs:
        kind = output["output_type"]
        if kind == "stream":
            stream = sys.stdout if output["name"] == "stdout" else sys.stderr
            stream.write(output["text"])
            stream.flush()
        elif kind == "display_data":
            shell.display_pub.publish(data=output["data"], metadata=output.get("metadata") or {})
        elif kind == "execute_result":
            result = ReplayedResult(output["data"], output.get("metadata") or {})
    return result

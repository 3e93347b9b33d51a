"""notebooks/assessment.ipynb runs top to bottom (nbclient, a real ipykernel) and shows what it promises.

The kernel is a child of the test process, so it starts inside the session lab's scanner namespace;
the notebook builds its own small lab and enters that lab's scanner namespace (see the notebook).
"""

from __future__ import annotations

import gc
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.factories import ROOT

NOTEBOOK = ROOT / "notebooks" / "assessment.ipynb"


def _outputs(nb: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(cell.source, out) for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


@pytest.mark.timeout(240)
# jupyter_client leaves zmq sockets to the garbage collector; collected below, inside this test
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_assessment_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's future paths, without its warning
    monkeypatch.setenv("PORTLENS_NOTEBOOK_OUT", str(tmp_path))
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    km = KernelManager(kernel_name="python3", transport="ipc")  # no TCP, even on the lab's loopback
    km.connection_file = str(tmp_path / "kernel.json")
    km.ip = str(tmp_path / "kernel-ipc")
    client = NotebookClient(nb, km=km, timeout=120, resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    try:
        client.execute()  # raises CellExecutionError on the first failing cell
    finally:
        km.context.destroy(linger=0)
        del client, km
        gc.collect()

    outputs = _outputs(nb)
    assert not [o for _, o in outputs if o["output_type"] == "error"]
    html = [o["data"]["text/html"] for _, o in outputs if "text/html" in o.get("data", {})]
    assert any("portlens scan complete" in h for h in html)  # ScanResult tables
    assert any("portlens assessment" in h and "<table" in h for h in html)  # the Assessment
    assert any("riskiest" in h.lower() or "score" in h for h in html)
    widgets = [o for _, o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) >= 2  # the tqdm progress bars of the two scans
    assert any("image/png" in o.get("data", {}) for _, o in outputs)  # a.plot()
    report = tmp_path / "report.html"
    text = report.read_text()
    assert "What changed" in text and 'id="chart-history-ports"' in text
    assert "502/tcp</code> OPENED" in text  # the PLC appeared between the two scans
    assert (tmp_path / "assessment.json").exists() and (tmp_path / "report.md").exists()
    # the notebook removed its lab: no namespace of its tag is left
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert [line for line in names.splitlines() if line.startswith("pl-nb")] == []

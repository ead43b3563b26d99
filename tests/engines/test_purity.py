from __future__ import annotations

import subprocess
import sys


def test_engines_import_no_io_frameworks() -> None:
    code = (
        "import sys\n"
        "import ecoperf_core.engines.qnet, ecoperf_core.engines.qflow, ecoperf_core.engines.qerberos\n"
        "import ecoperf_core.engines.cicd, ecoperf_core.engines.golive, ecoperf_core.engines.dao\n"
        "bad = [m for m in ('duckdb', 'prefect', 'fastapi') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

"""Domain packages import their names on first use, and unknown names still raise."""

import subprocess
import sys

import pytest

from shared.lazy import lazy_attributes


def test_lazy_attributes_import_on_access_and_reject_unknown_names():
    getter = lazy_attributes("pkg", {"sqrt": "math"})
    assert getter("sqrt")(9.0) == 3.0
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'cos'"):
        getter("cos")


def test_importing_a_domain_package_imports_none_of_its_modules():
    code = (
        "import sys, graph_cl, recsys_cl, timeseries_cl\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0].endswith('_cl') and '.' in m))\n"
        "print(graph_cl.GRACE.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.splitlines() == ["[]", "graph_cl.grace"]

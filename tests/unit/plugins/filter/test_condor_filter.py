"""condor_fragment filter: same text as the module, both calling forms, errors as filter errors."""
import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.htcfarm.bsaas.plugins.filter.condor import FilterModule, condor_fragment
from ansible_collections.htcfarm.bsaas.plugins.module_utils.condor import render_fragment


def test_registered():
    assert FilterModule().filters()["condor_fragment"] is condor_fragment


def test_both_forms_render_like_the_module():
    knobs = {"CONDOR_HOST": "cm.example", "USE_SHARED_PORT": False}
    expected = render_fragment(knobs, ["ROLE: Execute"])
    assert condor_fragment(knobs, use=["ROLE: Execute"]) == expected
    assert condor_fragment({"knobs": knobs, "use": ["ROLE: Execute"]}) == expected
    assert expected == "use ROLE: Execute\nCONDOR_HOST = cm.example\nUSE_SHARED_PORT = false\n"
    assert condor_fragment({"knobs": knobs, "name": "20-role"}).startswith("# Managed by Ansible")


@pytest.mark.parametrize("data, use", [({"A B": 1}, None), ({"X": 1}, ["nonsense"]), (["X"], None)])
def test_errors(data, use):
    with pytest.raises(AnsibleFilterError):
        condor_fragment(data, use=use)

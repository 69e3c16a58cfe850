"""One job end to end: namespace, veth, NAT, accounting record, teardown."""
import json
import os

import pytest

pytestmark = pytest.mark.kernel


def test_nat_job_gets_network_and_leaves_nothing(make_node):
    node = make_node()
    out = os.path.join(node.out, "ifaces")
    result = node.run_job(["/bin/sh", "-c", f"ip -j addr show > {out}"])
    assert result["status"] == 0, result["stderr"]
    with open(out) as handle:
        addrs = {l["ifname"]: [a["local"] for a in l.get("addr_info", []) if a["family"] == "inet"]
                 for l in json.load(handle)}
    assert set(addrs) == {"lo", "eth0"}
    assert addrs["eth0"] == ["10.213.0.2"]
    assert "LarkNetworkBytesOut" in result["exit_hook"]
    assert node.leftovers() == {}
    assert len(node.records()) == 1

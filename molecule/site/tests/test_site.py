"""What site.yml built on two sites, proven by behaviour: NAT one way, services reached across it."""
import os

import pytest
import testinfra.utils.ansible_runner

inventory = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = inventory.get_hosts("all")

ROUTER_ON_ALPHA = "10.231.11.254"
SITE1 = "10.231.11.11"
SITE3 = "10.231.12.13"

# A one-shot TCP server that prints the address the connection came from.
PEER_SERVER = ("python3 -c \"import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
               "s.bind(('0.0.0.0',{port}));s.listen(1);s.settimeout(20);c,a=s.accept();print(a[0]);c.close()\"")
CLIENT = ("python3 -c \"import socket,sys;socket.create_connection(('{host}',{port}),timeout=3);"
          "print('connected')\"")


def node(name):
    return testinfra.get_host("ansible://" + name + "?ansible_inventory=" + os.environ["MOLECULE_INVENTORY_FILE"])


def test_site_facts_record_the_topology(host):
    name = host.backend.get_hostname()
    fact = host.ansible("setup", "filter=ansible_local")["ansible_facts"]["ansible_local"]["bsaas"]
    expected_site = "beta" if name == "site-3" else "alpha"
    assert expected_site in str(fact)


def test_nat_is_one_way_and_shows_the_gateway_address():
    site1, site3 = node("site-1"), node("site-3")
    # Start the listener on alpha in the background, then connect from beta through the router.
    site1.run("rm -f /tmp/peer; (%s > /tmp/peer 2>&1 &)" % PEER_SERVER.format(port=40123))
    site1.run("sleep 1")
    out = site3.run(CLIENT.format(host=SITE1, port=40123))
    assert out.rc == 0, out.stderr
    site1.run("sleep 1")
    # site-1 saw the connection come from the NAT gateway, i.e. bsaas_site_public_address of beta.
    assert site1.file("/tmp/peer").content_string.strip() == ROUTER_ON_ALPHA
    # And nothing on alpha can open a connection into beta.
    site3.run("(%s > /tmp/peer 2>&1 &)" % PEER_SERVER.format(port=40124))
    site3.run("sleep 1")
    inbound = site1.run(CLIENT.format(host=SITE3, port=40124))
    assert inbound.rc != 0


def test_etcd_reached_from_the_natted_site():
    """The infrastructure layer works across the NAT: beta reads what alpha wrote, over TLS."""
    site1, site3 = node("site-1"), node("site-3")
    tls = "--cacert /etc/etcd/pki/ca.crt --cert /etc/etcd/pki/client.crt --key /etc/etcd/pki/client.key"
    if not site1.file("/etc/etcd/pki/ca.crt").exists:
        pytest.skip("etcd is deployed without client certificates at /etc/etcd/pki")
    put = site1.run("ETCDCTL_API=3 etcdctl --endpoints https://%s:2379 %s put /bsaas/site-test alpha-wrote-this"
                    % (SITE1, tls))
    assert put.rc == 0, put.stderr
    # site-3 has no etcd client certificates of its own: copy them for this read only.
    for name in ("ca.crt", "client.crt", "client.key"):
        content = site1.file("/etc/etcd/pki/" + name).content_string
        site3.run("mkdir -p /tmp/etcd-pki && cat > /tmp/etcd-pki/%s <<'EOF'\n%sEOF" % (name, content))
    curl = site3.run("curl -sS --cacert /tmp/etcd-pki/ca.crt --cert /tmp/etcd-pki/client.crt "
                     "--key /tmp/etcd-pki/client.key https://%s:2379/v2/keys/ 2>&1; "
                     "curl -sS --cacert /tmp/etcd-pki/ca.crt --cert /tmp/etcd-pki/client.crt "
                     "--key /tmp/etcd-pki/client.key -X POST https://%s:2379/v3/kv/range "
                     "-d '{\"key\": \"L2JzYWFzL3NpdGUtdGVzdA==\"}'" % (SITE1, SITE1))
    site3.run("rm -rf /tmp/etcd-pki")
    # base64("alpha-wrote-this")
    assert "YWxwaGEtd3JvdGUtdGhpcw==" in curl.stdout, curl.stdout + curl.stderr


def test_zookeeper_answers_across_the_nat():
    site3 = node("site-3")
    out = site3.run("python3 -c \"import socket;s=socket.create_connection(('%s',2181),timeout=5);"
                    "s.sendall(b'ruok');print(s.recv(16).decode())\"" % SITE1)
    assert out.stdout.strip() == "imok", out.stdout + out.stderr


def test_docker_runs_on_every_host(host):
    info = host.run("docker info --format '{{.Driver}} {{.ServerVersion}}'")
    assert info.rc == 0, info.stderr
    assert info.stdout.split()[0] == "vfs"


def test_summary_names_what_could_not_be_deployed():
    path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "site-summary.txt")
    summary = open(path).read()
    assert "site beta: AS 64612, NAT masquerade via 10.231.11.254" in summary
    assert "+ etcd             on site-1" in summary
    assert "+ zookeeper        on site-1" in summary
    assert "- mesos            skipped: " in summary and "not found on the controller" in summary
    marathon = [line for line in summary.splitlines() if line.startswith("  - marathon ")]
    assert marathon and "marathon-v1.10.26.tar: not found" in marathon[0] and "needs mesos" in marathon[0]
    htcondor = [line for line in summary.splitlines() if line.strip().startswith("+ htcondor ")]
    assert htcondor and all(name in htcondor[0] for name in ("site-1", "site-2", "site-3")), summary
    assert "users reach the submitter site-1" in summary


def test_a_job_submitted_at_alpha_runs_at_beta_through_ccb():
    """site-3 is behind the NAT: its startd registered through CCB, and a job from site-1 ran there."""
    site1 = node("site-1")
    address = site1.run("condor_status -startd -constraint 'Machine == \"site-3\"' -af MyAddress")
    assert address.rc == 0 and "CCBID" in address.stdout, address.stdout + address.stderr
    # HTCondor refuses jobs owned by root: submit as an ordinary user of the submitter.
    assert site1.run("id ccbtest || useradd -m ccbtest").rc == 0
    submit = ("executable = /bin/hostname\ntransfer_executable = false\noutput = ccb.out\nerror = ccb.err\n"
              "log = ccb.log\nrequirements = Machine == \"site-3\"\nqueue\n")
    assert site1.run("cat > /home/ccbtest/ccb.sub <<'EOF'\n%sEOF\nchown ccbtest /home/ccbtest/ccb.sub" % submit).rc == 0
    job = site1.run("su - ccbtest -c 'rm -f ccb.log ccb.out; cluster=$(condor_submit -terse ccb.sub | cut -d. -f1) && "
                    "condor_wait -wait 300 ccb.log >/dev/null && condor_history $cluster -limit 1 -af ExitCode LastRemoteHost && "
                    "cat ccb.out'")
    assert job.rc == 0, job.stdout + job.stderr
    lines = job.stdout.split()
    assert lines[0] == "0" and "site-3" in lines[1] and lines[-1] == "site-3", job.stdout

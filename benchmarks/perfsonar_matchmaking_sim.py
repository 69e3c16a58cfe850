"""Network-aware vs network-blind matchmaking on the INDIGO three-site pool (Torino, Bologna, Bari).

A discrete-event simulation of one mixed workload run twice on the same pool:
  blind  - any free slot may take any job (HTCondor's defaults: no network terms in START or ranks);
  aware  - the perfsonar_ingest role's policy: START refuses a slot when the job's input sandbox would need
           more than --max-transfer-seconds on the bandwidth perfSONAR measured from the job's submit site,
           and NEGOTIATOR_PRE_JOB_RANK prefers the slot with the fewest whole transfer minutes.
When the htcondor wheel is installed, the aware decisions are made by HTCondor itself: the role's expressions are
expanded by htcondor2's config parser and evaluated by classad2 against startd ads built by
module_utils/perfsonar.py (the STARTD_CRON code). Without it, a Python mirror of the same formula is used.

Network model:
  RTT (ms):       measured, INDIGO-DataCloud BSaaS paper (J. Phys.: Conf. Ser. 898 052033), Table 1, unrounded poster
                  figures: container-to-container, keyed by the site that starts the connection. Torino->Bologna
                  32.4 (the authors' known unstable link), Bologna->Torino 10.8, Torino<->Bari 18.4, Bologna<->Bari
                  13.9; inside a site 0.065 (Torino), 0.092 (Bologna), 0.175 (Bari). A transfer and the perfSONAR
                  test of a path use the figure of connections started at the sending site.
  capacity:       Torino-Bologna 10 Gbit/s; Bari reaches both other sites over a thin 1 Gbit/s link; LANs 10 Gbit/s
  per transfer:   TCP window 6 MiB (Linux tcp_rmem max) caps one stream at window/RTT; concurrent transfers on a
                  link share it equally; each transfer starts after 10 RTTs (handshake, authentication, slow start)
  perfSONAR:      measures one iperf3 stream per pair: min(capacity, window/RTT)
Workload (seeded): 60% CPU jobs (20 MiB input, 20-60 min), 30% medium (2 GiB, 15-45 min), 10% data-heavy
(40 GiB, 10-30 min); submitted 50% at Torino, 30% at Bologna, 20% at Bari; 40 slots per site; negotiation every
60 s. The aware policy refuses transfers estimated above 300 s (--max-transfer-seconds), so a 40 GiB sandbox
(344 s at 1 Gbit/s) never crosses a thin link. A second, data-heavy mix (40% heavy jobs, 30% CPU) is run too.
Prints makespan, bytes over thin links and transfer times for both policies. Nothing is asserted.
"""
import argparse
import os
import random
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

from ansible_collections.htcfarm.bsaas.plugins.module_utils import perfsonar as ps  # noqa: E402

SITES = ("torino", "bologna", "bari")
# (site that starts the connection, other site) -> RTT in ms; seed-figures.md, INDIGO Table 1 (poster values)
RTT_MS = {("torino", "torino"): 0.065, ("bologna", "torino"): 10.760, ("bari", "torino"): 18.409,
          ("torino", "bologna"): 32.424, ("bologna", "bologna"): 0.092, ("bari", "bologna"): 13.913,
          ("torino", "bari"): 18.351, ("bologna", "bari"): 13.879, ("bari", "bari"): 0.175}
CAPACITY_MBPS = {frozenset(("torino", "bologna")): 10000.0, frozenset(("bologna", "bari")): 1000.0,
                 frozenset(("torino", "bari")): 1000.0}
LAN_MBPS = 10000.0
TCP_WINDOW_MBIT = 6 * 8.388608
THIN_LINK_MBPS = 2000.0
MIB_BITS = 8.388608  # Mbit per MiB

JOB_TYPES = (  # name, share, input MiB, runtime range (min)
    ("cpu", 0.6, 20, (20, 60)),
    ("medium", 0.3, 2048, (15, 45)),
    ("heavy", 0.1, 40960, (10, 30)),
)
SUBMIT_SHARES = (("torino", 0.5), ("bologna", 0.3), ("bari", 0.2))


def link_of(src, dst):
    return frozenset((src, dst)) if src != dst else frozenset((src,))


def link_capacity(link):
    return LAN_MBPS if len(link) == 1 else CAPACITY_MBPS[link]


def rtt_s(src, dst):
    """RTT of a connection that src starts to dst, in seconds (the paper's table is not symmetric)."""
    return RTT_MS[(src, dst)] / 1000.0


def measured_mbps(src, dst):
    return min(link_capacity(link_of(src, dst)), TCP_WINDOW_MBIT / rtt_s(src, dst))


# ------------------------------------------------------------------ policies

class BlindPolicy:
    name = "network-blind"

    def choose(self, job, free_sites, rng):
        return rng.choice(free_sites)


class AwarePolicy:
    """The role's START and NEGOTIATOR_PRE_JOB_RANK, decided by HTCondor's own libraries when present."""

    name = "network-aware"

    def __init__(self, max_transfer_seconds, free_input_mb):
        self.max_transfer_seconds = max_transfer_seconds
        self.free_input_mb = free_input_mb
        self.cache = {}
        self.engine = "python mirror"
        try:
            self._load_htcondor()
            self.engine = "htcondor2 + classad2"
        except ImportError:
            self.classad2 = None

    def _load_htcondor(self):
        import classad2
        import htcondor2
        import jinja2
        import yaml
        with open(os.path.join(REPO, "roles", "perfsonar_ingest", "vars", "main.yml")) as stream:
            role_vars = yaml.safe_load(stream)
        context = {"perfsonar_ingest_submit_site_attribute": "BSaaSSubmitSite"}
        knobs = dict((name, jinja2.Template(text).render(context))
                     for name, text in role_vars["perfsonar_ingest_slot_expressions"].items())
        knobs.update({"BSAAS_NET_MAX_TRANSFER_SECONDS": str(self.max_transfer_seconds),
                      "BSAAS_NET_FREE_INPUT_MB": str(self.free_input_mb), "BSAAS_NET_ALLOW_UNMEASURED": "true",
                      "START": "($(START)) && $(BSAAS_NET_SLOT_TRANSFER_OK)",
                      "NEGOTIATOR_PRE_JOB_RANK": role_vars["perfsonar_ingest_pre_job_rank"]})
        folder = tempfile.mkdtemp(prefix="bsaas-sim-")
        path = os.path.join(folder, "condor_config")
        with open(path, "w") as stream:
            stream.write("use ROLE: Execute\nuse ROLE: CentralManager\n")
            stream.write("".join("{0} = {1}\n".format(k, v) for k, v in knobs.items()))
        os.environ["CONDOR_CONFIG"] = path
        htcondor2.reload_config()
        self.start = classad2.ExprTree(str(htcondor2.param["START"]))
        self.pre_job_rank = classad2.ExprTree(str(htcondor2.param["NEGOTIATOR_PRE_JOB_RANK"]))
        self.classad2 = classad2
        now = time.time()
        pairs = {}
        for src in SITES:
            for dst in SITES:
                if src != dst:
                    pairs[(src, dst)] = {ps.METRIC_THROUGHPUT: {
                        "value": measured_mbps(src, dst), "age_seconds": 600, "samples": 28, "origin": "measured"}}
        self.slot_ads = {}
        for site in SITES:
            text = ps.render_startd_cron_output(ps.startd_attributes(pairs, site, SITES, now, local_mbps=LAN_MBPS))
            ad = classad2.parseOne(text[:text.rindex("-\n")], classad2.ParserType.Old)
            ad.update({"Cpus": 1, "Memory": 2048, "Rank": 0})
            self.slot_ads[site] = ad

    def decide(self, submit_site, slot_site, input_mib):
        key = (submit_site, slot_site, input_mib)
        if key not in self.cache:
            if self.classad2 is not None:
                job = self.classad2.ClassAd({"BSaaSSubmitSite": submit_site, "TransferInputSizeMB": input_mib})
                slot = self.slot_ads[slot_site]
                allowed = self.start.eval(slot, job) is True
                rank = float(self.pre_job_rank.eval(slot, job))
            else:
                bandwidth = LAN_MBPS if submit_site == slot_site else measured_mbps(submit_site, slot_site)
                seconds = input_mib * MIB_BITS / bandwidth
                allowed = (input_mib <= self.free_input_mb or submit_site == slot_site
                           or seconds <= self.max_transfer_seconds)
                rank = -1e9 * (seconds // 60)
            self.cache[key] = (allowed, rank)
        return self.cache[key]

    def choose(self, job, free_sites, rng):
        best, best_rank = [], None
        for site in set(free_sites):
            allowed, rank = self.decide(job["submit_site"], site, job["input_mib"])
            if not allowed:
                continue
            if best_rank is None or rank > best_rank:
                best, best_rank = [site], rank
            elif rank == best_rank:
                best.append(site)
        if not best:
            return None
        # among equally ranked sites, pick like the negotiator would among equal slots: any free one
        candidates = [s for s in free_sites if s in best]
        return rng.choice(candidates)


# ------------------------------------------------------------------ simulation

def make_workload(jobs, seed, shares):
    rng = random.Random(seed)
    workload = []
    for index in range(jobs):
        kind = rng.choices(JOB_TYPES, weights=shares)[0]
        submit = rng.choices([site for site, share in SUBMIT_SHARES], weights=[share for site, share in SUBMIT_SHARES])[0]
        workload.append({"id": index, "kind": kind[0], "input_mib": kind[2], "submit_site": submit,
                         "runtime": rng.uniform(*kind[3]) * 60.0})
    return workload


def simulate(workload, policy, slots_per_site, negotiation_interval, seed):
    rng = random.Random(seed)
    free = dict((site, slots_per_site) for site in SITES)
    idle = list(workload)
    transfers = []   # dicts: job, link, remaining Mbit, start_after, cap
    running = []     # (end_time, site)
    now = 0.0
    next_negotiation = 0.0
    thin_bytes = 0.0
    transfer_times = []
    finished = 0
    while finished < len(workload):
        if now >= next_negotiation - 1e-9:
            still_idle = []
            for position, job in enumerate(idle):
                free_sites = [s for s in SITES for slot in range(free[s])]
                if not free_sites:
                    still_idle.extend(idle[position:])
                    break
                site = policy.choose(job, free_sites, rng)
                if site is None:
                    still_idle.append(job)
                    continue
                free[site] -= 1
                link = link_of(job["submit_site"], site)
                mbit = job["input_mib"] * MIB_BITS
                if len(link) == 2 and link_capacity(link) < THIN_LINK_MBPS:
                    thin_bytes += job["input_mib"] * 1048576.0
                transfers.append({"job": job, "site": site, "link": link, "remaining": mbit, "begun": now,
                                  "start_after": now + 10 * rtt_s(job["submit_site"], site),
                                  "cap": TCP_WINDOW_MBIT / rtt_s(job["submit_site"], site)})
            idle = still_idle
            next_negotiation = now + negotiation_interval
        # rates: equal share of each link among its active transfers, capped per stream by window/RTT
        active = [t for t in transfers if t["start_after"] <= now + 1e-9]
        per_link = {}
        for t in active:
            per_link[t["link"]] = per_link.get(t["link"], 0) + 1
        for t in active:
            t["rate"] = min(t["cap"], link_capacity(t["link"]) / per_link[t["link"]])
        # next event
        candidates = [next_negotiation if idle else float("inf")]
        candidates += [t["start_after"] for t in transfers if t["start_after"] > now + 1e-9]
        candidates += [now + t["remaining"] / t["rate"] for t in active]
        candidates += [end for end, slot_site in running]
        step_to = min(candidates)
        dt = step_to - now
        for t in active:
            t["remaining"] -= t["rate"] * dt
        now = step_to
        done = [t for t in active if t["remaining"] <= 1e-6]
        for t in done:
            transfers.remove(t)
            transfer_times.append(now - t["begun"])
            running.append((now + t["job"]["runtime"], t["site"]))
        ended = [r for r in running if r[0] <= now + 1e-9]
        for r in ended:
            running.remove(r)
            free[r[1]] += 1
            finished += 1
    transfer_times.sort()
    return {"makespan_h": now / 3600.0, "thin_gib": thin_bytes / 2 ** 30,
            "mean_transfer_s": sum(transfer_times) / len(transfer_times),
            "p95_transfer_s": transfer_times[int(0.95 * (len(transfer_times) - 1))]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1200)
    parser.add_argument("--slots-per-site", type=int, default=40)
    parser.add_argument("--max-transfer-seconds", type=int, default=300)
    parser.add_argument("--free-input-mb", type=int, default=100)
    parser.add_argument("--negotiation-interval", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=2016)
    args = parser.parse_args()

    aware = AwarePolicy(args.max_transfer_seconds, args.free_input_mb)
    print("INDIGO three-site pool: {0} jobs, {1} slots per site, max transfer {2} s, aware decisions by {3}".format(
        args.jobs, args.slots_per_site, args.max_transfer_seconds, aware.engine))
    print("perfSONAR-measured bandwidth (Mbit/s): " + ", ".join(
        "{0}->{1} {2:.0f}".format(s, d, measured_mbps(s, d)) for s in SITES for d in SITES if s != d))
    for mix, shares in (("mixed (60/30/10)", [t[1] for t in JOB_TYPES]), ("data-heavy (30/30/40)", [0.3, 0.3, 0.4])):
        workload = make_workload(args.jobs, args.seed, shares)
        print("\nworkload {0}: CPU/medium/heavy shares".format(mix))
        print("{0:<15} {1:>12} {2:>22} {3:>18} {4:>16} {5:>9}".format(
            "policy", "makespan h", "GiB over thin links", "mean transfer s", "p95 transfer s", "wall s"))
        results = {}
        for policy in (BlindPolicy(), aware):
            started = time.perf_counter()
            result = simulate(workload, policy, args.slots_per_site, args.negotiation_interval, args.seed)
            results[policy.name] = result
            print("{0:<15} {1:>12.2f} {2:>22.1f} {3:>18.1f} {4:>16.1f} {5:>9.1f}".format(
                policy.name, result["makespan_h"], result["thin_gib"], result["mean_transfer_s"],
                result["p95_transfer_s"], time.perf_counter() - started))
        blind, smart = results["network-blind"], results["network-aware"]
        print("network-aware vs blind: makespan {0:+.1f}%, bytes over thin links {1:+.1f}%".format(
            100.0 * (smart["makespan_h"] / blind["makespan_h"] - 1),
            100.0 * (smart["thin_gib"] / blind["thin_gib"] - 1) if blind["thin_gib"] else 0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())

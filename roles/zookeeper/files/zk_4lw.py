"""Send a ZooKeeper four-letter-word command (srvr, ruok, mntr, stat, conf) and print the answer.

With --wait N it retries for up to N seconds until the server answers and, for srvr, reports that it
is serving as leader, follower or standalone; the systemd unit uses that as its readiness check.
Installed by the htcfarm.bsaas.zookeeper role. The command must be in 4lw.commands.whitelist.
"""
import argparse
import socket
import sys
import time

SERVING_MODES = ("leader", "follower", "standalone", "observer")


def ask(host, port, word, timeout):
    """One 4lw exchange: ZooKeeper answers and closes the connection."""
    conn = socket.create_connection((host, port), timeout=timeout)
    try:
        conn.sendall(word.encode("ascii"))
        chunks = []
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        conn.close()


def serving_mode(answer):
    """The Mode: line of a srvr/stat answer, or '' when the server is not serving."""
    for line in answer.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("word", choices=["srvr", "ruok", "mntr", "stat", "conf", "envi", "cons", "wchs"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2181)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--wait", type=float, default=0.0, help="retry for this many seconds until serving")
    args = parser.parse_args(argv)

    deadline = time.time() + args.wait
    problem = ""
    while True:
        try:
            answer = ask(args.host, args.port, args.word, args.timeout)
            if "is not executed because it is not in the whitelist" in answer:
                sys.stderr.write(answer + "\nadd '%s' to zookeeper_4lw_whitelist\n" % args.word)
                return 2
            if args.word == "ruok" and answer.strip() == "imok":
                sys.stdout.write(answer + "\n")
                return 0
            if args.word in ("srvr", "stat") and serving_mode(answer) in SERVING_MODES:
                sys.stdout.write(answer)
                return 0
            if args.word not in ("ruok", "srvr", "stat") and answer:
                sys.stdout.write(answer)
                return 0
            problem = answer.strip() or "empty answer"
        except (OSError, socket.error) as error:
            problem = str(error)
        if time.time() >= deadline:
            sys.stderr.write("ZooKeeper on %s:%d is not serving: %s\n" % (args.host, args.port, problem))
            return 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())

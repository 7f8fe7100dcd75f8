"""Print what mlx.launch gives each rank for a hostfile and a backend.

Usage: python launch_env.py HOSTFILE BACKEND PORT

Runs mlx.launch's own launch_<backend> with the process start replaced by a
recorder, and prints a JSON list, rank order, of {"env": {...}, "files":
{VAR: content}} (MLX_RANK included in env, as the launch script exports it).
A hostfile mlx.launch refuses prints {"error": message} instead.
"""

import argparse
import json
import sys

from mlx._distributed_utils import launch
from mlx._distributed_utils.common import Hostfile


class Refused(Exception):
    pass


class Parser:
    def error(self, msg):
        raise Refused(msg)


def main():
    path, backend, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    hosts = Hostfile.from_file(path).hosts
    args = argparse.Namespace(
        starting_port=port, nccl_port=port, connections_per_ip=1, env=[],
        verbose=False, cwd=None, python=None, repeat_hosts=1, backend=backend)
    ranks = []

    def record(_cls, arguments, _verbose):
        for (rank, _ssh, _python, _cwd, files, env, _command), _ in arguments:
            e = dict(v.split("=", 1) for v in env)
            e["MLX_RANK"] = str(rank)
            ranks.append({"env": e, "files": dict(files)})

    launch._launch_with_io = record
    run = {"ring": launch.launch_ring, "nccl": launch.launch_nccl,
           "jaccl": launch.launch_jaccl}[backend]
    try:
        run(Parser(), hosts, args, ["true"])
    except Refused as e:
        print(json.dumps({"error": str(e)}))
        return
    print(json.dumps(ranks))


main()

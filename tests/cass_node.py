#!/usr/bin/env python3
"""Build a Cassandra node's data directories from the real fixtures, for the
integration tests: two data dirs (JBOD), live SSTables, snapshots/<tag>/ hard
links with manifest.json and schema.cql, backups/ hard links, unfinished
writes and transaction logs, a secondary-index subfolder and a system
keyspace. Also adds new SSTables (with correct Digest.crc32) on demand.

  cass_node.py build FIXTURES_DATA NODE_DIR
  cass_node.py snapshot NODE_DIR TAG
  cass_node.py add-sstable NODE_DIR GEN [--backups] [--size N]
"""
import json, os, random, shutil, sys, zlib

KS = "legacy_tables"


def tables(node):
    for dd in sorted(os.listdir(node)):
        ksd = os.path.join(node, dd, KS)
        if os.path.isdir(ksd):
            for t in sorted(os.listdir(ksd)):
                yield os.path.join(ksd, t)


def live_files(tdir):
    return sorted(f for f in os.listdir(tdir)
                  if os.path.isfile(os.path.join(tdir, f)) and not f.startswith(("tmp", "nb_txn")))


def build(fixtures, node):
    src = os.path.join(fixtures, KS)
    names = sorted(os.listdir(src))
    for i, t in enumerate(names):
        dd = os.path.join(node, "data1" if i % 2 == 0 else "data2", KS, t)
        shutil.copytree(os.path.join(src, t), dd, copy_function=shutil.copy2)
    # a node-local system keyspace, left out by default
    sysd = os.path.join(node, "data1", "system", "local-7ad54392bcdd35a684174e047860b377")
    os.makedirs(sysd)
    open(os.path.join(sysd, "nb-1-big-Data.db"), "wb").write(b"system data")
    # unfinished writes and a transaction log next to live files
    first = next(tables(node))
    open(os.path.join(first, "tmp-nb-9-big-Data.db"), "wb").write(b"partial")
    open(os.path.join(first, "nb_txn_compaction_4ae58b40-1a7e-11ef-a8b7-2fe3b7a6d5c1.log"), "w").write("ADD:[x]\n")


def schema_for(tdir):
    t, tid = os.path.basename(tdir).rsplit("-", 1)
    u = "%s-%s-%s-%s-%s" % (tid[:8], tid[8:12], tid[12:16], tid[16:20], tid[20:])
    return ("CREATE TABLE IF NOT EXISTS %s.%s (k int PRIMARY KEY, v text)\n"
            "    WITH ID = %s;\n" % (KS, t, u))


def snapshot(node, tag):
    idx_done = False
    for tdir in tables(node):
        sd = os.path.join(tdir, "snapshots", tag)
        os.makedirs(sd)
        files = live_files(tdir)
        for f in files:
            os.link(os.path.join(tdir, f), os.path.join(sd, f))
        listed = list(files)
        # a secondary index: its SSTable lives in .<index>/ of the table
        if not idx_done and any(f.startswith("nb-1-big-") for f in files):
            os.makedirs(os.path.join(sd, ".legacy_idx"))
            for f in files:
                if f.startswith("nb-1-big-"):
                    os.link(os.path.join(tdir, f), os.path.join(sd, ".legacy_idx", f))
                    listed.append(".legacy_idx/" + f)
            idx_done = True
        with open(os.path.join(sd, "manifest.json"), "w") as m:
            m.write(json.dumps({"files": listed}).replace("/", "\\/"))
        with open(os.path.join(sd, "schema.cql"), "w") as s:
            s.write(schema_for(tdir))
        # leftovers that a snapshot can catch
        if tdir == next(tables(node)):
            open(os.path.join(sd, "tmplink-nb-8-big-Data.db"), "wb").write(b"x")


def add_sstable(node, gen, backups, size, which=0):
    tdir = [t for t in tables(node) if "_nb_" in t][which]
    rnd = random.Random(gen * 7919 + which)
    data = bytes(rnd.getrandbits(8) for _ in range(size))
    comps = {
        "Data.db": data,
        "Index.db": bytes(rnd.getrandbits(8) for _ in range(512)),
        "Filter.db": bytes(rnd.getrandbits(8) for _ in range(64)),
        "Statistics.db": b"stats" * 100,
        "Digest.crc32": str(zlib.crc32(data) & 0xffffffff).encode(),
    }
    comps["TOC.txt"] = ("\n".join(list(comps) + ["TOC.txt"]) + "\n").encode()
    total = 0
    for c, b in comps.items():
        p = os.path.join(tdir, "nb-%d-big-%s" % (gen, c))
        open(p, "wb").write(b)
        total += len(b)
        if backups:
            os.makedirs(os.path.join(tdir, "backups"), exist_ok=True)
            os.link(p, os.path.join(tdir, "backups", os.path.basename(p)))
    print(total)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "build":
        build(sys.argv[2], sys.argv[3])
    elif cmd == "snapshot":
        snapshot(sys.argv[2], sys.argv[3])
    elif cmd == "add-sstable":
        size = int(sys.argv[sys.argv.index("--size") + 1]) if "--size" in sys.argv else 65536
        which = int(sys.argv[sys.argv.index("--table") + 1]) if "--table" in sys.argv else 0
        add_sstable(sys.argv[2], int(sys.argv[3]), "--backups" in sys.argv, size, which)

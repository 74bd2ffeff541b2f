#!/usr/bin/python3
"""Checks that every #include "folder/file.h" in src/ goes down the layers of
scripts/layers.txt: a file includes its own folder and the folders below it.

Exceptions are listed in layers.txt as `path/of/file.cc -> folder/header.h`;
an exception that no longer occurs is reported too, so the list only shrinks.

Usage: check_layers.py [ROOT]   (exit 1 and one line per finding)
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z0-9_]+)/([^"]+)"')


def read_layers(path):
    rank, exceptions, section = {}, set(), "layers"
    with open(path) as f:
        for number, line in enumerate(f, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            if text == "[exceptions]":
                section = "exceptions"
            elif section == "layers":
                level = len(set(rank.values()))
                for folder in text.split():
                    rank[folder] = level
            else:
                source, arrow, header = text.partition("->")
                if not arrow:
                    sys.exit(f"{path}:{number}: expected 'FILE -> HEADER'")
                exceptions.add((source.strip(), header.strip()))
    return rank, exceptions


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    rank, exceptions = read_layers(os.path.join(root, "scripts", "layers.txt"))
    src = os.path.join(root, "src")
    findings, used = [], set()
    for folder in sorted(os.listdir(src)):
        if not os.path.isdir(os.path.join(src, folder)):
            continue
        if folder not in rank:
            findings.append(f"src/{folder}/: a folder that scripts/layers.txt does not place")
            continue
        for name in sorted(os.listdir(os.path.join(src, folder))):
            path = os.path.join(src, folder, name)
            rel = f"{folder}/{name}"
            with open(path, errors="replace") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m or m.group(1) in (folder, "ugate"):
                        continue  # its own folder, or the generated ugate/version.h
                    target, header = m.group(1), f"{m.group(1)}/{m.group(2)}"
                    if target in rank and rank[target] < rank[folder]:
                        continue
                    if (rel, header) in exceptions:
                        used.add((rel, header))
                        continue
                    where = "a sibling" if rank.get(target) == rank[folder] else "a layer above"
                    findings.append(f"src/{rel}:{number}: includes {header}, {where} of {folder}/ "
                                    f"(scripts/layers.txt orders the folders)")
    for source, header in sorted(exceptions - used):
        findings.append(f"scripts/layers.txt: the exception '{source} -> {header}' no longer occurs: remove it")
    for line in findings:
        print(line)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Finds the coroutine shapes GCC 12.2 (Debian 12's compiler) miscompiles.

1. `co_await` inside the condition of if/while/for/switch. GCC 12.2 (Debian 12's compiler) miscompiles a co_await that is an operand of
a condition, for example `if (co_await f())`, `if (!co_await f())` or
`if (co_await f() == x)`: the program later crashes or corrupts memory (seen
as SIGSEGV, SIGILL and garbage in a recycled coroutine frame). Forms that
initialise or assign a variable were seen to compile correctly and pass:
`if (auto x = co_await f(); x)`, `if (error_code ec = co_await f())`,
`if ((ec = co_await f()))`. Simplest: await into a named variable first.

    error_code ec = co_await write_all(s, bytes);
    if (ec) ...

2. A conditional operator (`?:`) in a statement that contains `co_await`:
`co_await f(ok ? std::string("a") : fmt::format(...))` destroys the
temporary twice when the coroutine resumes (ASan: attempting double-free; a
release build aborts with "free(): double free detected in tcache 2"). It
fires on every run, even when the awaited coroutine never suspends. Compute
the value into a named variable in a statement of its own first:

    std::string why = ok ? "a" : fmt::format(...);
    co_await f(why);

The check is on the whole statement, so a `?:` that is harmless (trivial
types) is flagged too: naming it first costs nothing.

Usage: check_coroutines.py DIR...   (exit 1 and one line per finding)
"""
import re
import sys
from pathlib import Path

KEYWORD = re.compile(r"\b(if|while|for|switch)\s*(constexpr\s*)?\(")


def strip(text):
    """The text with comments and string/char literals blanked (same length)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


ASSIGNMENT = re.compile(r"(?<![=!<>])=(?!=)")


def findings(path):
    text = strip(path.read_text(errors="replace"))
    for m in KEYWORD.finditer(text):
        depth, j, segment_start = 1, m.end(), m.end()
        while j < len(text) and depth:
            c = text[j]
            depth += {"(": 1, ")": -1}.get(c, 0)
            if c == ";" and depth == 1:
                segment_start = j + 1  # an init-statement ends here
            if text.startswith("co_await", j) and depth >= 1:
                # Allowed: the value initialises or is assigned to a variable first.
                if not ASSIGNMENT.search(text[segment_start:j]):
                    yield text.count("\n", 0, j) + 1
            j += 1


def ternary_findings(path):
    """Statements with both co_await and ?: split at ; { } (a lambda's body is
    a function of its own; a for header split in three loses nothing)."""
    text = strip(path.read_text(errors="replace"))
    start = 0
    for m in re.finditer(r"[;{}]", text):
        statement = text[start:m.start()]
        if "?" in statement and re.search(r"\bco_await\b", statement):
            yield text.count("\n", 0, start + statement.index("?")) + 1
        start = m.end()


def main(dirs):
    bad = 0
    for d in dirs:
        for path in sorted(Path(d).rglob("*")):
            if path.suffix in (".cc", ".h", ".cpp", ".hpp"):
                for line in findings(path):
                    print(f"{path}:{line}: co_await in a condition (GCC 12 miscompiles it; await into a variable first)")
                    bad += 1
                for line in ternary_findings(path):
                    print(f"{path}:{line}: ?: in a statement with co_await (GCC 12 frees its temporary twice; "
                          "name the value first)")
                    bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["src", "apps", "tests", "bench"]))

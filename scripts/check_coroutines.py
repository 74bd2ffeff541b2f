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

3. A class-type prvalue given to a coroutine's by-value parameter:
`co_await f(HostPort{"a", 1})` leaves a string inside pointing into the
caller's frame (ASan: bad free). Flagged: a braced or constructed temporary of
a capitalised type among the awaited call's own arguments. Name it, or
std::move a named value.

4. A coroutine parameter defaulted to a constructed value
(`ForwardOptions options = {}`): each caller that leaves it out passes a
prvalue, as in 3. Overload instead.

Usage: check_coroutines.py DIR...   (exit 1 and one line per finding)
       check_coroutines.py --self-test  (each shape is found in lint_fixtures/, and nothing else)
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


def closing(text, start, pairs="()"):
    """The index of the bracket that closes the one at `start` (or the end of text)."""
    depth, k = 0, start
    while k < len(text):
        depth += {pairs[0]: 1, pairs[1]: -1}.get(text[k], 0)
        if depth == 0:
            return k
        k += 1
    return k


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


PRVALUE_ARG = re.compile(r"[(,]\s*(?:\w+::)*[A-Z]\w*(?:<[^()]*>)?\s*[{(]")


def prvalue_findings(path):
    """A braced or constructed temporary of a class type (CapitalisedName{...} or
    Name(...)) as an argument of the call a co_await awaits."""
    text = strip(path.read_text(errors="replace"))
    for m in re.finditer(r"\bco_await\b", text):
        j = text.find("(", m.end())
        semicolon = text.find(";", m.end())
        if j < 0 or (0 <= semicolon < j):
            continue
        k = closing(text, j)
        # Only the awaited call's own arguments: what nested calls and braces
        # hold is blanked (a temporary given to a plain function is fine).
        call, depth = [], 0
        for c in text[j:k + 1]:
            inner = depth > 1
            depth += {"(": 1, "{": 1, ")": -1, "}": -1}.get(c, 0)
            call.append(" " if inner and depth > 1 else c)
        hit = PRVALUE_ARG.search("".join(call))
        if hit:
            yield text.count("\n", 0, j + hit.start()) + 1


DEFAULTED = re.compile(r"=\s*(?:\{|(?:\w+::)*[A-Z]\w*(?:<[^()]*>)?\s*[{(])")


def default_findings(path):
    """A coroutine (returns asio::awaitable) with a parameter defaulted to a
    braced or constructed value: the caller then passes a prvalue."""
    text = strip(path.read_text(errors="replace"))
    for m in re.finditer(r"\bawaitable<", text):
        j = closing(text, m.end() - 1, "<>") + 1
        name = re.match(r"\s*[\w:~]+\s*\(", text[j:])
        if not name:
            continue
        start = j + name.end() - 1
        hit = DEFAULTED.search(text[start:closing(text, start)])
        if hit:
            yield text.count("\n", 0, start + hit.start()) + 1


def main(dirs):
    bad = 0
    for d in dirs:
        for path in sorted(Path(d).rglob("*")):
            if path.suffix in (".cc", ".h", ".cpp", ".hpp"):
                for line in findings(path):
                    print(f"{path}:{line}: co_await in a condition (GCC 12 miscompiles it; await into a variable first)")
                    bad += 1
                for line in prvalue_findings(path):
                    print(f"{path}:{line}: a class-type temporary passed to an awaited call (GCC 12 copies it "
                          "wrongly into the coroutine's parameter; pass a named value or std::move(x))")
                    bad += 1
                for line in default_findings(path):
                    print(f"{path}:{line}: a coroutine parameter defaulted to a constructed value (GCC 12: the "
                          "caller's prvalue; overload instead, as Session::forward does)")
                    bad += 1
                for line in ternary_findings(path):
                    print(f"{path}:{line}: ?: in a statement with co_await (GCC 12 frees its temporary twice; "
                          "name the value first)")
                    bad += 1
    return 1 if bad else 0


def self_test():
    """The fixture has each shape once, on the line its comment numbers."""
    import contextlib
    import io
    fixture = Path(__file__).parent / "lint_fixtures"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main([str(fixture)])
    found = sorted(int(line.split(":")[1]) for line in out.getvalue().splitlines())
    if found != [2, 4, 5, 6]:
        print(f"self-test: expected findings on lines 2, 4, 5, 6 of the fixture, got {found}:\n{out.getvalue()}")
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(main(sys.argv[1:] or ["src", "apps", "tests", "bench"]))

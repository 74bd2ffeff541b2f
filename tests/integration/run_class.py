"""Runs integration tests the way `python3 -m unittest -v NAME...` does, for ctest (one test class
per ctest entry, see CMakeLists.txt), and tells ctest which classes did not run at all.

Exit status: 1 when a test failed or errored (setUpClass included), or when nothing was found to
run; 77 (SKIPPED, ctest's SKIP_RETURN_CODE for these tests) when every test was skipped -- the
class could not run here (not root, no `ip netns`, a tool missing), so ctest shows "Skipped", not
"Passed"; 0 otherwise. The rule for a class with some tests skipped and the others passed: passed,
with the skips named at the end of its output. So a requirement that a whole class needs is a skip
of the class (a class decorator, or SkipTest in setUpClass), and one that a single test needs is
that test's skip, which leaves its class Passed: where a skip must not pass unnoticed, make it a
failure instead (netns.needs_netns does under UGATE_REQUIRE_NETNS=1).
"""
import sys
import unittest

SKIPPED = 77


class Result(unittest.TextTestResult):
    """Counts the tests that ran to an end (passed, or failed as they were expected to)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.ran = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.ran += 1

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.ran += 1


def main(names):
    if not names:
        print("usage: run_class.py MODULE.CLASS [...]", file=sys.stderr)
        return 2
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    result = unittest.TextTestRunner(verbosity=2, resultclass=Result).run(suite)
    if not result.wasSuccessful():
        return 1
    reasons = sorted({why for _, why in result.skipped})
    if result.ran == 0:
        if not result.skipped:
            print("no test ran: is the name right?")
            return 1
        print(f"SKIPPED: every test was skipped ({'; '.join(reasons)})")
        return SKIPPED
    if result.skipped:
        print(f"passed with {len(result.skipped)} of its tests skipped ({'; '.join(reasons)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

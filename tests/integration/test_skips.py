"""ctest's view of a test class (run_class.py and SKIP_RETURN_CODE 77 in CMakeLists.txt): Skipped
when none of its tests ran, Passed when some ran and passed, Failed when one failed; and a
namespace class that cannot run fails under UGATE_REQUIRE_NETNS=1 (CI) instead of skipping."""
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def run_class(name, **env):
    environ = {k: v for k, v in os.environ.items() if k != "UGATE_REQUIRE_NETNS"}
    environ.update(env, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-W", "ignore", "run_class.py", f"skip_fixtures.{name}"], cwd=HERE,
                          env=environ, capture_output=True, text=True, timeout=60)


class SkipReporting(unittest.TestCase):
    def assertExit(self, r, code):
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)

    def test_a_class_whose_tests_all_skipped_is_reported_skipped(self):
        r = run_class("AllSkipped")
        self.assertExit(r, 77)
        self.assertIn("SKIPPED: every test was skipped (needs what is not here)", r.stdout)
        self.assertExit(run_class("SkippedInSetUpClass"), 77)

    def test_a_class_with_a_test_that_ran_passes_and_names_its_skips(self):
        r = run_class("SomeSkipped")
        self.assertExit(r, 0)
        self.assertIn("passed with 1 of its tests skipped (one test's own requirement)", r.stdout)

    def test_a_failure_fails_whatever_else_skipped(self):
        self.assertExit(run_class("FailsAndSkips"), 1)

    def test_a_class_without_tests_fails(self):
        r = run_class("NoTests")
        self.assertExit(r, 1)
        self.assertIn("no test ran", r.stdout)

    def test_a_namespace_class_that_cannot_run_skips_unless_required(self):
        r = run_class("NeedsNetns")
        self.assertExit(r, 77)
        self.assertIn("simulated: no network namespaces here", r.stdout)
        r = run_class("NeedsNetns", UGATE_REQUIRE_NETNS="1")
        self.assertExit(r, 1)
        self.assertIn("UGATE_REQUIRE_NETNS=1 and this class needs network namespaces: "
                      "simulated: no network namespaces here", r.stderr)
        # A class that asks netns.unavailable() itself cannot skip past the requirement either.
        self.assertExit(run_class("AsksUnavailable"), 77)
        r = run_class("AsksUnavailable", UGATE_REQUIRE_NETNS="1")
        self.assertExit(r, 1)
        self.assertIn("UGATE_REQUIRE_NETNS=1 and network namespaces cannot be used here", r.stderr)

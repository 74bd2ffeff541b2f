"""Test classes for test_skips.py, which runs them through run_class.py and checks its exit status
(not test_*: discovery must not collect them; some fail on purpose)."""
import unittest

import netns

# As on a machine where namespaces cannot be used, for the class below (this module only ever runs
# in a process of its own).
netns._probe = lambda: "simulated: no network namespaces here"


@unittest.skip("needs what is not here")
class AllSkipped(unittest.TestCase):
    def test_one(self):
        pass

    def test_two(self):
        pass


class SkippedInSetUpClass(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise unittest.SkipTest("setUpClass found nothing to test")

    def test_one(self):
        pass


class SomeSkipped(unittest.TestCase):
    def test_runs(self):
        pass

    @unittest.skip("one test's own requirement")
    def test_skipped(self):
        pass


class FailsAndSkips(unittest.TestCase):
    def test_fails(self):
        self.fail("on purpose")

    @unittest.skip("skipped")
    def test_skipped(self):
        pass


class NoTests(unittest.TestCase):
    pass


@netns.needs_netns
class NeedsNetns(unittest.TestCase):
    def test_in_a_namespace(self):
        pass


class AsksUnavailable(unittest.TestCase):
    """A class that checks by itself rather than through needs_netns."""

    @classmethod
    def setUpClass(cls):
        why = netns.unavailable()
        if why:
            raise unittest.SkipTest(why)

    def test_in_a_namespace(self):
        pass

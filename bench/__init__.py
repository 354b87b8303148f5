"""`make bench` (`python -m bench`): how fast the service is at national scale, each figure beside its
reference and the ratio it must reach (README, "Performance"). Not a test: nothing here is timed by pytest."""

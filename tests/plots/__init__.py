"""Tests of lmmflow.plots."""

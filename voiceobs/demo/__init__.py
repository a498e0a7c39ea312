"""The end-to-end demo: pipelines, probes, a fault, an SLO burn, failover and recovery."""

from voiceobs.demo.router import Router, Upstream
from voiceobs.demo.scenario import Demo, DemoPlan, DemoReport, summary

__all__ = ["Demo", "DemoPlan", "DemoReport", "Router", "Upstream", "summary"]

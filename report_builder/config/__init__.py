"""The configuration: experiments.toml validated into frozen dataclasses. The package's lowest layer:
it imports nothing of report_builder but errors."""

from report_builder.config.keys import checked_replace
from report_builder.config.parse import load_suite, parse_suite
from report_builder.config.schema import (
                                          ACTIVATIONS,
                                          APPROACH,
                                          DATASETS,
                                          DEVICES,
                                          ENGINES,
                                          EXECUTORS,
                                          OPTIMIZERS,
                                          PIPELINES,
                                          PROBES,
                                          STACK_CHOICES,
                                          ExecutorConfig,
                                          Experiment,
                                          ExperimentText,
                                          Group,
                                          GroupConfig,
                                          ReportConfig,
                                          Suite,
                                          Sweep,
                                          SweepPoint,
                                          TimingConfig,
                                          TrainConfig,
                                          probe_key,
                                          split_probe_key,
)

__all__ = ["ACTIVATIONS", "APPROACH", "DATASETS", "DEVICES", "ENGINES", "EXECUTORS", "OPTIMIZERS", "PIPELINES", "PROBES",
           "STACK_CHOICES", "ExecutorConfig", "Experiment", "ExperimentText", "Group", "GroupConfig", "ReportConfig",
           "Suite", "Sweep", "SweepPoint", "TimingConfig", "TrainConfig", "checked_replace", "load_suite", "parse_suite", "probe_key",
           "split_probe_key"]

"""Evaluation of frozen representations: probes, clustering, full ranking, classification metrics,
run summaries and plots. Accepts torch tensors or numpy arrays; see each module's docstring."""

from shared.evaluation.classification import UndefinedMetricWarning, classification_scores
from shared.evaluation.clustering import cluster_scores, partition_scores
from shared.evaluation.plots import metric_family, plot_training_curves, plot_tsne
from shared.evaluation.probe import knn_accuracy, linear_probe
from shared.evaluation.ranking import metrics_from_ranks, rank_full, ranks_from_scores
from shared.evaluation.summary import format_mean_std, markdown_table, mean_std

__all__ = [
    "UndefinedMetricWarning",
    "classification_scores",
    "cluster_scores",
    "format_mean_std",
    "knn_accuracy",
    "linear_probe",
    "markdown_table",
    "mean_std",
    "metric_family",
    "metrics_from_ranks",
    "partition_scores",
    "plot_training_curves",
    "plot_tsne",
    "rank_full",
    "ranks_from_scores",
]

"""The model graph: IR, the TF.js model.json loader, and graph passes."""
from .ir import Graph, Node, TensorInfo, split_ref
from .loader import parse_graph_model, GraphModelFiles

__all__ = ["Graph", "Node", "TensorInfo", "split_ref", "parse_graph_model", "GraphModelFiles"]

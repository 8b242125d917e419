"""The vocabulary kernel calls are written in: element-wise kinds and reductions by
name, and the filter layouts of the conv-like ops.  Lowering, the int8 pass and every
backend speak these names; each backend maps them to its own codes (wasm enums,
GLSL snippets) at its own edge.
"""
from __future__ import annotations

# activations a conv, depthwise conv or element-wise kernel can apply as its epilogue
ACTIVATIONS = ("Relu", "Relu6", "Sigmoid", "Tanh", "Elu", "LeakyRelu", "Prelu", "Selu")
# the ones that commute with a max exactly in float32 (non-decreasing and piecewise linear;
# LeakyRelu only with alpha >= 0): act(max(a, b)) == max(act(a), act(b)) bit for bit
MAX_COMMUTING_ACTIVATIONS = ("Relu", "Relu6", "LeakyRelu")

# TF op -> the element-wise binary kind that computes it
BINARY_KINDS = {"Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div",
                "Div": "Div", "Maximum": "Maximum", "Minimum": "Minimum", "SquaredDifference": "SquaredDifference",
                "Prelu": "Prelu", "FloorDiv": "FloorDiv", "FloorMod": "FloorMod"}

# TF op -> the element-wise unary kind (activations other than Prelu are unary too)
UNARY_KINDS = {**{a: a for a in ACTIVATIONS if a != "Prelu"},
               "Exp": "Exp", "Sqrt": "Sqrt", "Rsqrt": "Rsqrt", "Reciprocal": "Reciprocal", "Inv": "Reciprocal",
               "Neg": "Neg", "Abs": "Abs", "Square": "Square", "Floor": "Floor", "Ceil": "Ceil", "Round": "Round",
               "Sign": "Sign"}

REDUCTIONS = ("Mean", "Sum", "Max", "Min")

# Conv-like ops by filter layout: conv [KH,KW,C,CO], depthwise [KH,KW,C,MULT], MatMul [K,N]
FILTER_KINDS = {"Conv2D": "conv", "_FusedConv2D": "conv", "DepthwiseConv2dNative": "dw",
                "FusedDepthwiseConv2dNative": "dw", "MatMul": "mm", "_FusedMatMul": "mm"}
# the axis of a filter that indexes output channels (depthwise with MULT 1: the input channel)
FILTER_CHANNEL_AXIS = {"conv": 3, "dw": 2, "mm": 1}
# the int8 op (ops/quant.py) that replaces each filter kind in a quantised graph
QUANT_OPS = {"conv": "WtQConv2D", "dw": "WtQDepthwiseConv2D", "mm": "WtQMatMul"}

"""Hand-built .tflite files for tests, written with LiteRT's own generated schema classes
(ai_edge_litert.schema_py_generated, the reference side) so that webtensor's reader is
checked against files it did not write, and run by LiteRT's interpreter for the expected
outputs."""
from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as S

TYPES = {np.dtype(np.float32): S.TensorType.FLOAT32, np.dtype(np.float16): S.TensorType.FLOAT16,
         np.dtype(np.int32): S.TensorType.INT32, np.dtype(np.int8): S.TensorType.INT8,
         np.dtype(np.uint8): S.TensorType.UINT8, np.dtype(np.int64): S.TensorType.INT64}

# builtin -> (BuiltinOptions union type, options class)
OPTIONS = {
    "CONV_2D": ("Conv2DOptions", S.Conv2DOptionsT), "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", S.DepthwiseConv2DOptionsT),
    "MAX_POOL_2D": ("Pool2DOptions", S.Pool2DOptionsT), "AVERAGE_POOL_2D": ("Pool2DOptions", S.Pool2DOptionsT),
    "FULLY_CONNECTED": ("FullyConnectedOptions", S.FullyConnectedOptionsT), "ADD": ("AddOptions", S.AddOptionsT),
    "MUL": ("MulOptions", S.MulOptionsT), "SUB": ("SubOptions", S.SubOptionsT),
    "RESHAPE": ("ReshapeOptions", S.ReshapeOptionsT), "CONCATENATION": ("ConcatenationOptions", S.ConcatenationOptionsT),
    "RESIZE_BILINEAR": ("ResizeBilinearOptions", S.ResizeBilinearOptionsT), "SOFTMAX": ("SoftmaxOptions", S.SoftmaxOptionsT),
    "DEPTH_TO_SPACE": ("DepthToSpaceOptions", S.DepthToSpaceOptionsT), "MEAN": ("ReducerOptions", S.ReducerOptionsT),
    "TRANSPOSE_CONV": ("TransposeConvOptions", S.TransposeConvOptionsT), "PAD": ("PadOptions", S.PadOptionsT),
    "LEAKY_RELU": ("LeakyReluOptions", S.LeakyReluOptionsT),
}


class ModelBuilder:
    def __init__(self):
        self.tensors: list = []
        self.buffers = [S.BufferT()]                 # buffer 0: the empty sentinel
        self.ops: list = []
        self.codes: list = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def tensor(self, name, shape, dtype=np.float32, data=None, scale=None, zero_point=None, axis=0,
               signature=None) -> int:
        t = S.TensorT()
        t.name, t.shape, t.type = name, list(shape), TYPES[np.dtype(dtype)]
        if signature is not None:
            t.shapeSignature = list(signature)
        t.buffer = 0
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(np.asarray(data, dtype)).tobytes(), np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = S.QuantizationParametersT()
            q.scale = list(np.atleast_1d(np.asarray(scale, np.float32)))
            q.zeroPoint = list(np.atleast_1d(np.asarray(zero_point if zero_point is not None else 0, np.int64)))
            q.quantizedDimension = axis
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, name, value, dtype=None, **q) -> int:
        value = np.asarray(value, dtype or np.asarray(value).dtype)
        return self.tensor(name, value.shape, value.dtype, value, **q)

    def op(self, kind: str, inputs, outputs, custom: str | None = None, custom_options: bytes = b"", **options):
        code = S.BuiltinOperator.CUSTOM if custom else getattr(S.BuiltinOperator, kind)
        key = (code, custom)
        if key not in self.codes:
            self.codes.append(key)
        op = S.OperatorT()
        op.opcodeIndex = self.codes.index(key)
        op.inputs, op.outputs = list(inputs), list(outputs)
        if kind in OPTIONS:
            union, cls = OPTIONS[kind]
            o = cls()
            for k, v in options.items():
                setattr(o, k, v)
            op.builtinOptionsType = getattr(S.BuiltinOptions, union)
            op.builtinOptions = o
        if custom_options:
            op.customOptions = list(custom_options)
        self.ops.append(op)

    def build(self) -> bytes:
        sg = S.SubGraphT()
        sg.tensors, sg.operators, sg.inputs, sg.outputs = self.tensors, self.ops, self.inputs, self.outputs
        m = S.ModelT()
        m.version = 3
        m.subgraphs = [sg]
        m.buffers = self.buffers
        m.operatorCodes = []
        for code, custom in self.codes:
            oc = S.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = 1
            if custom:
                oc.customCode = custom
            m.operatorCodes.append(oc)
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def run_litert(data: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs LiteRT's interpreter computes for `inputs` (in the model's input order)."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=data)
    for d, x in zip(it.get_input_details(), inputs):
        if list(d["shape"]) != list(x.shape):
            it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]

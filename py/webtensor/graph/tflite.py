""".tflite files (TFLite / LiteRT FlatBuffers) -> Graph, in TensorFlow's op vocabulary.

Field slots follow TFLite's published `schema.fbs` (Model, SubGraph, Tensor, Operator,
Buffer, QuantizationParameters, SparsityParameters and the builtin option tables); the
file is read with `flatbuffers.Table`, our bounds-checked reader, so no generated code and
no dependency.  What TFLite fuses is unfolded into the graph ops webtensor already plans
and fuses (a CONV_2D with a fused RELU6 becomes `_FusedConv2D` with `BiasAdd, Relu6`).
Constant work happens at load: float16 weights behind DEQUANTIZE become float32 constants,
sparse weights behind DENSIFY are densified, OHWI filters are transposed to HWIO.
int8 tensors (per-tensor or per-axis scales) become webtensor's int8 ops; see `_int8`.
"""
from __future__ import annotations

import numpy as np

from .._record import record
from ..errors import ModelFormatError, UnsupportedOpError
from ..ops.quant import I8, I32
from .flatbuffers import FlatBufferError, Table
from .ir import Graph, Node, TensorInfo

# --- schema.fbs: field slots of the tables we read
MODEL_VERSION, MODEL_OPCODES, MODEL_SUBGRAPHS, MODEL_BUFFERS = 0, 1, 2, 4
SG_TENSORS, SG_INPUTS, SG_OUTPUTS, SG_OPERATORS = 0, 1, 2, 3
T_SHAPE, T_TYPE, T_BUFFER, T_NAME, T_QUANT, T_SPARSITY, T_SHAPE_SIGNATURE = 0, 1, 2, 3, 4, 6, 7
BUF_DATA, BUF_OFFSET, BUF_SIZE = 0, 1, 2
OC_DEPRECATED_CODE, OC_CUSTOM, OC_CODE = 0, 1, 3
OP_OPCODE, OP_INPUTS, OP_OUTPUTS, OP_OPTIONS, OP_CUSTOM_OPTIONS = 0, 1, 2, 4, 5
Q_SCALE, Q_ZERO_POINT, Q_AXIS = 2, 3, 6
SP_ORDER, SP_BLOCK_MAP, SP_DIMS = 0, 1, 2
DM_FORMAT, DM_DENSE_SIZE, DM_SEGMENTS_TYPE, DM_SEGMENTS, DM_INDICES_TYPE, DM_INDICES = 0, 1, 2, 3, 4, 5

# TensorType -> numpy dtype (the types a model's tensors may have here)
TENSOR_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
                7: np.int16, 9: np.int8, 10: np.float64}
TYPE_NAMES = {5: "STRING", 8: "COMPLEX64", 11: "COMPLEX128", 12: "UINT64", 13: "RESOURCE", 14: "VARIANT",
              15: "UINT32", 16: "UINT16", 17: "INT4", 18: "BFLOAT16"}

# BuiltinOperator names in code order (schema.fbs; the StableHLO ops after them are not listed)
OP_NAMES = """
    ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE
    EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D
    LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1
    RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS SKIP_GRAM
    CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER BATCH_TO_SPACE_ND
    SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE
    BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM
    CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE
    SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW
    ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK
    REDUCE_MIN FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR
    LEAKY_RELU SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS
    WHERE RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE
    NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM
    BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D IMAG
    REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL
    CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS RANDOM_STANDARD_NORMAL
    BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE RELU_0_TO_1 UNSORTED_SEGMENT_PROD
    UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR
    RIGHT_SHIFT
""".split()
BUILTINS = dict(enumerate(OP_NAMES))
PADDING = {0: "SAME", 1: "VALID"}
# ActivationFunctionType -> the TF activation applied after the op.  TANH (4) and SIGN_BIT (5)
# are refused: LiteRT's conv, pool and element-wise kernels clamp only to the RELU ranges
# and silently skip them, so a file asking for them has no single meaning to reproduce.
FUSED_ACTIVATIONS = {0: None, 1: "Relu", 3: "Relu6", 2: "RELU_N1_TO_1"}
MAX_TFLITE_BYTES = 1 << 31


@record
class _Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]        # shape with -1 where the dimension is free
    dtype: np.dtype
    buffer: int
    scale: np.ndarray                 # empty when not quantised
    zero_point: np.ndarray
    axis: int
    table: Table


class _Builder:
    """Accumulates webtensor nodes while walking the TFLite operators in order."""

    def __init__(self, source: str):
        self.source = source
        self.nodes: list[Node] = []
        self.consts: dict[str, np.ndarray] = {}
        self.names: set[str] = set()
        self.key: dict[int, str] = {}             # TFLite tensor index -> "node:0"

    def fresh(self, name: str) -> str:
        base = name or "tensor"
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def const(self, name: str, value: np.ndarray) -> str:
        name = self.fresh(name)
        self.consts[name] = value
        self.nodes.append(Node(name, "Const", [], {"dtype": value.dtype}))
        return f"{name}:0"

    def node(self, name: str, op: str, inputs: list[str], **attrs) -> str:
        name = self.fresh(name)
        self.nodes.append(Node(name, op, inputs, attrs))
        return f"{name}:0"


def parse_tflite(data: bytes, source: str = "model.tflite") -> Graph:
    """A .tflite file's bytes -> Graph.  Malformed files raise ModelFormatError naming the
    file; ops outside the supported set raise UnsupportedOpError naming op and tensor."""
    if len(data) > MAX_TFLITE_BYTES:
        raise ModelFormatError(f"{source}: {len(data)} bytes, beyond the {MAX_TFLITE_BYTES >> 30} GiB a model may have")
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFormatError(f"{source}: not a TFLite model (no 'TFL3' file identifier)")
    try:
        return _Converter(bytes(data), source).graph()
    except FlatBufferError as e:
        raise ModelFormatError(f"{source}: malformed TFLite FlatBuffer ({e})") from None
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as e:
        if isinstance(e, (ModelFormatError, UnsupportedOpError)):
            raise
        raise ModelFormatError(f"{source}: malformed TFLite model ({type(e).__name__}: {e})") from None


class _Converter:
    def __init__(self, data: bytes, source: str):
        self.data = data
        self.source = source
        self.model = Table.root(data)
        version = self.model.scalar(MODEL_VERSION, "I")
        if version != 3:
            raise ModelFormatError(f"{source}: TFLite schema version {version}, expected 3")
        subgraphs = self.model.tables(MODEL_SUBGRAPHS)
        if not subgraphs:
            raise ModelFormatError(f"{source}: the model has no subgraph")
        # more subgraphs are control-flow bodies (WHILE/IF) called from the first one;
        # an op that calls them is refused below as unsupported
        self.sg = subgraphs[0]
        self.buffers = self.model.tables(MODEL_BUFFERS)
        self.opcodes = [self._opcode(t) for t in self.model.tables(MODEL_OPCODES)]
        self.tensors = [self._tensor(i, t) for i, t in enumerate(self.sg.tables(SG_TENSORS))]
        self.b = _Builder(source)
        self.folded: dict[int, np.ndarray] = {}     # tensor -> value known at load (DEQUANTIZE/DENSIFY of consts)

    # ---------------------------------------------------------------- tables
    def _opcode(self, t: Table) -> tuple[str, str]:
        code = max(t.scalar(OC_CODE, "i"), t.scalar(OC_DEPRECATED_CODE, "b"))
        custom = t.string(OC_CUSTOM) if t.has(OC_CUSTOM) else ""
        return BUILTINS.get(code, f"builtin operator {code}"), custom

    def _tensor(self, i: int, t: Table) -> _Tensor:
        ttype = t.scalar(T_TYPE, "b")
        name = t.string(T_NAME) or f"tensor_{i}"
        if ttype not in TENSOR_TYPES:
            raise UnsupportedOpError(f"{self.source}: tensor {name!r} has type "
                                     f"{TYPE_NAMES.get(ttype, ttype)}, which webtensor does not run")
        shape = tuple(int(d) for d in t.array(T_SHAPE, np.int32))
        sig = tuple(int(d) for d in t.array(T_SHAPE_SIGNATURE, np.int32)) or shape
        if any(d < 0 for d in shape) or len(sig) != len(shape) or any(d < -1 for d in sig):
            raise ModelFormatError(f"{self.source}: tensor {name!r} has a bad shape {list(shape)} / {list(sig)}")
        q = t.table(T_QUANT)
        scale = q.array(Q_SCALE, np.float32) if q else np.zeros(0, np.float32)
        zp = q.array(Q_ZERO_POINT, np.int64) if q else np.zeros(0, np.int64)
        axis = q.scalar(Q_AXIS, "i") if q else 0
        return _Tensor(i, name, shape, sig, np.dtype(TENSOR_TYPES[ttype]), t.scalar(T_BUFFER, "I"),
                       scale, zp, axis, t)

    def buffer_bytes(self, tensor: _Tensor) -> bytes | None:
        if tensor.buffer == 0:               # buffer 0 is the empty sentinel: no data
            return None
        if tensor.buffer >= len(self.buffers):
            raise ModelFormatError(f"{self.source}: tensor {tensor.name!r} names buffer {tensor.buffer}, "
                                   f"but the model has {len(self.buffers)}")
        buf = self.buffers[tensor.buffer]
        offset, size = buf.scalar(BUF_OFFSET, "Q"), buf.scalar(BUF_SIZE, "Q")
        if offset > 1:                        # data stored after the FlatBuffer (models over 2 GiB)
            if offset + size > len(self.data):
                raise ModelFormatError(f"{self.source}: buffer {tensor.buffer} of tensor {tensor.name!r} "
                                       f"ends at byte {offset + size}, past the end of the file")
            return self.data[offset:offset + size]
        raw = buf.bytes(BUF_DATA)
        return raw or None

    def is_const(self, i: int) -> bool:
        """Tensor i has a value at load (a buffer with data, or folded), checked without
        copying the data out (check_int8 asks this of every operator's inputs)."""
        t = self.tensors[i]
        if i in self.folded:
            return True
        if t.buffer == 0 or t.buffer >= len(self.buffers):
            return False
        buf = self.buffers[t.buffer]
        return buf.scalar(BUF_OFFSET, "Q") > 1 or buf.length(BUF_DATA) > 0

    def value(self, i: int) -> np.ndarray | None:
        """The constant value of tensor i, or None when it is computed at run time."""
        if i in self.folded:
            return self.folded[i]
        t = self.tensors[i]
        raw = self.buffer_bytes(t)
        if raw is None:
            return None
        if t.table.has(T_SPARSITY):        # a sparse constant is only read through DENSIFY
            return None
        n = int(np.prod(t.shape, dtype=np.int64))
        if len(raw) != n * t.dtype.itemsize:
            raise ModelFormatError(f"{self.source}: tensor {t.name!r} of shape {list(t.shape)} "
                                   f"({t.dtype.name}) needs {n * t.dtype.itemsize} bytes, its buffer has {len(raw)}")
        return np.frombuffer(raw, t.dtype.newbyteorder("<")).astype(t.dtype).reshape(t.shape)

    # ---------------------------------------------------------------- references
    def ref(self, i: int) -> str:
        """The graph key of tensor i (constants become Const nodes on first use)."""
        if i < 0 or i >= len(self.tensors):
            raise ModelFormatError(f"{self.source}: an operator reads tensor {i}, but the model has "
                                   f"{len(self.tensors)} tensors")
        if i in self.b.key:
            return self.b.key[i]
        v = self.value(i)
        if v is None:
            raise ModelFormatError(f"{self.source}: tensor {self.tensors[i].name!r} is read before any "
                                   f"operator writes it")
        if v.dtype == np.float16:
            v = v.astype(np.float32)
        self.b.key[i] = self.b.const(self.tensors[i].name, v)
        return self.b.key[i]

    def const(self, name: str, value) -> str:
        return self.b.const(name, np.asarray(value))

    # ---------------------------------------------------------------- graph
    def graph(self) -> Graph:
        ins = [int(i) for i in self.sg.array(SG_INPUTS, np.int32)]
        outs = [int(i) for i in self.sg.array(SG_OUTPUTS, np.int32)]
        for i in ins + outs:
            if not 0 <= i < len(self.tensors):
                raise ModelFormatError(f"{self.source}: a subgraph input/output names tensor {i}, but the "
                                       f"model has {len(self.tensors)} tensors")
        inputs = []
        for i in ins:
            t = self.tensors[i]
            self.b.key[i] = self.b.node(t.name, "Placeholder", [], dtype=t.dtype, shape=list(t.signature))
            inputs.append(TensorInfo(t.name, self.b.key[i], list(t.signature), t.dtype))
        ops = self.sg.tables(SG_OPERATORS)
        self._check_ops(ops)
        for k, op in enumerate(ops):
            self._operator(k, op)
        outputs = []
        for i in outs:
            t = self.tensors[i]
            outputs.append(TensorInfo(t.name, self.ref(i), list(t.signature), t.dtype))
        from .plan import check_supported       # every emitted op in the op spec (a converter bug otherwise)
        check_supported(self.b.nodes, self.source)
        return Graph(self.b.nodes, self.b.consts, inputs, outputs, self.source)

    def _check_ops(self, ops: list[Table]) -> None:
        """Every operator's kind known before any is converted (one error naming them all)."""
        bad: dict[str, list[str]] = {}
        for op in ops:
            kind, custom = self._kind(op)
            if kind not in CONVERTERS and custom not in CUSTOM_CONVERTERS:
                outs = op.array(OP_OUTPUTS, np.int32)
                name = self.tensors[int(outs[0])].name if len(outs) and 0 <= outs[0] < len(self.tensors) else "?"
                bad.setdefault(custom or kind, []).append(name)
        if bad:
            parts = [f"{op} (tensor {names[0]!r}" + (f" and {len(names) - 1} more" if len(names) > 1 else "") + ")"
                     for op, names in sorted(bad.items())]
            raise UnsupportedOpError(f"{self.source}: unsupported TFLite ops: " + ", ".join(parts))

    def _kind(self, op: Table) -> tuple[str, str]:
        idx = op.scalar(OP_OPCODE, "I")
        if idx >= len(self.opcodes):
            raise ModelFormatError(f"{self.source}: an operator names opcode {idx}, but the model has "
                                   f"{len(self.opcodes)}")
        kind, custom = self.opcodes[idx]
        return kind, (custom if kind == "CUSTOM" else "")

    def _operator(self, k: int, op: Table) -> None:
        kind, custom = self._kind(op)
        ins = [int(i) for i in op.array(OP_INPUTS, np.int32)]
        outs = [int(i) for i in op.array(OP_OUTPUTS, np.int32)]
        if not outs or any(not 0 <= o < len(self.tensors) for o in outs):
            raise ModelFormatError(f"{self.source}: operator {k} ({custom or kind}) has bad outputs {outs}")
        for o in outs:
            if o in self.b.key:
                raise ModelFormatError(f"{self.source}: tensor {self.tensors[o].name!r} is written twice")
        conv = CUSTOM_CONVERTERS[custom] if custom else CONVERTERS[kind]
        ctx = _Op(self, kind if not custom else custom, ins, outs, op)
        try:
            check_int8(ctx)
            conv(ctx)
        except (UnsupportedOpError, ModelFormatError):
            raise
        except (ValueError, IndexError, KeyError, TypeError) as e:
            raise ModelFormatError(f"{self.source}: operator {k} ({ctx.kind}, tensor "
                                   f"{self.tensors[outs[0]].name!r}): {e}") from None


class _Op:
    """One TFLite operator being converted: its tensors, options and output naming."""

    def __init__(self, conv: _Converter, kind: str, ins: list[int], outs: list[int], table: Table):
        self.c, self.kind, self.ins, self.outs, self.table = conv, kind, ins, outs, table
        self.options = table.table(OP_OPTIONS)
        self.name = conv.tensors[outs[0]].name

    def opt(self, slot: int, fmt: str, default=0):
        return self.options.scalar(slot, fmt, default) if self.options else default

    def input(self, k: int) -> str:
        if k >= len(self.ins) or self.ins[k] < 0:
            raise ModelFormatError(f"{self.c.source}: {self.kind} {self.name!r} lacks input {k}")
        return self.c.ref(self.ins[k])

    def has_input(self, k: int) -> bool:
        return k < len(self.ins) and self.ins[k] >= 0

    def tensor(self, k: int) -> _Tensor:
        return self.c.tensors[self.ins[k]]

    def value(self, k: int) -> np.ndarray | None:
        return self.c.value(self.ins[k]) if self.has_input(k) else None

    def out(self, key: str, k: int = 0) -> None:
        self.c.b.key[self.outs[k]] = key

    def emit(self, op: str, inputs: list[str], activation: int = 0, k: int = 0, fused: bool = False, **attrs) -> str:
        """Add node `op` writing output k, then TFLite's fused activation: inside the node's
        `fused_ops` when `fused` (conv-like ops, as TF.js graph models write them), else a node."""
        act = FUSED_ACTIVATIONS.get(activation, "?")
        if act == "?":
            raise UnsupportedOpError(f"{self.c.source}: {self.kind} {self.name!r} has fused activation "
                                     f"{ {4: 'TANH', 5: 'SIGN_BIT'}.get(activation, activation)}, which LiteRT's "
                                     f"kernels do not apply either (only RELU, RELU6, RELU_N1_TO_1 are)")
        name = self.c.tensors[self.outs[k]].name
        if fused:
            attrs["fused_ops"] = ["BiasAdd"] + ([act] if act not in (None, "RELU_N1_TO_1") else [])
            if act != "RELU_N1_TO_1":
                act = None
        key = self.c.b.node(name if act is None else name + "/pre_activation", op, inputs, **attrs)
        key = self.activation(key, act, name)
        self.out(key, k)
        return key

    def activation(self, key: str, act: str | None, name: str) -> str:
        if act is None:
            return key
        if act == "RELU_N1_TO_1":
            lo = self.c.b.node(name + "/min1", "Minimum", [key, self.c.const(name + "/one", np.float32(1))])
            return self.c.b.node(name, "Maximum", [lo, self.c.const(name + "/minus_one", np.float32(-1))])
        return self.c.b.node(name, act, [key])


# ------------------------------------------------------------------------------- converters
def _spatial_attrs(o: _Op, stride_w: int, stride_h: int, padding: int) -> dict:
    pad = PADDING.get(o.opt(padding, "b"))
    if pad is None:
        raise ModelFormatError(f"padding {o.opt(padding, 'b')} is neither SAME nor VALID")
    sh, sw = o.opt(stride_h, "i"), o.opt(stride_w, "i")       # schema default 0: must be set
    if sh < 1 or sw < 1:
        raise ModelFormatError(f"strides {sh}x{sw} (each must be at least 1)")
    return {"strides": [1, sh, sw, 1], "padding": pad, "data_format": "NHWC"}


def _filter(o: _Op, k: int, arrange) -> str:
    """A filter input rearranged to webtensor's layout: at load when constant, else by a node."""
    v = o.value(k)
    if v is not None:
        if v.dtype == np.float16:
            v = v.astype(np.float32)
        return o.c.const(o.tensor(k).name + "/hwio", np.ascontiguousarray(arrange(v)))
    raise UnsupportedOpError(f"{o.c.source}: {o.kind} {o.name!r} has a filter computed at run time "
                             f"({o.tensor(k).name!r}); webtensor needs it constant")


def _bias(o: _Op, k: int, channels: int) -> str:
    if o.has_input(k):
        return o.input(k)
    return o.c.const(o.name + "/zero_bias", np.zeros(channels, np.float32))


def conv_2d(o: _Op):
    # Conv2DOptions: padding 0, stride_w 1, stride_h 2, activation 3, dilation_w 4, dilation_h 5
    attrs = _spatial_attrs(o, 1, 2, 0)
    attrs["dilations"] = [1, o.opt(5, "i", 1), o.opt(4, "i", 1), 1]
    if _int8(o):
        return _qconv(o, attrs, depthwise=False)
    w = _filter(o, 1, lambda v: v.transpose(1, 2, 3, 0))          # OHWI -> HWIO
    co = o.tensor(1).shape[0]
    o.emit("_FusedConv2D", [o.input(0), w, _bias(o, 2, co)], o.opt(3, "b"), fused=True, **attrs)


def depthwise_conv_2d(o: _Op):
    # DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2, multiplier 3, activation 4, dilations 5, 6
    attrs = _spatial_attrs(o, 1, 2, 0)
    attrs["dilations"] = [1, o.opt(6, "i", 1), o.opt(5, "i", 1), 1]
    cin = o.c.tensors[o.ins[0]].shape[3]
    _, kh, kw, cout = o.tensor(1).shape
    if cout % cin:
        raise ModelFormatError(f"depthwise filter has {cout} channels for {cin} input channels")
    if _int8(o):
        return _qconv(o, attrs, depthwise=True)
    w = _filter(o, 1, lambda v: v.reshape(kh, kw, cin, cout // cin))   # [1,KH,KW,C*M] -> [KH,KW,C,M]
    o.emit("FusedDepthwiseConv2dNative", [o.input(0), w, _bias(o, 2, cout)], o.opt(4, "b"), fused=True, **attrs)


def fully_connected(o: _Op):
    # FullyConnectedOptions: activation 0, weights_format 1, keep_num_dims 2
    if o.opt(1, "b"):
        raise UnsupportedOpError(f"{o.c.source}: FULLY_CONNECTED {o.name!r} uses shuffled weights")
    n, k = o.tensor(1).shape
    x = o.input(0)
    xshape = o.c.tensors[o.ins[0]].shape
    if len(xshape) != 2:
        x = o.c.b.node(o.name + "/flatten", "Reshape", [x, o.c.const(o.name + "/flat_shape", np.array([-1, k], np.int32))])
    if _int8(o):
        return _qmatmul(o, x, keep=o.opt(2, "b") and len(xshape) != 2)
    w = _filter(o, 1, lambda v: v.T)                               # [N,K] -> [K,N]
    if o.opt(2, "b") and len(xshape) != 2:
        act = FUSED_ACTIVATIONS.get(o.opt(0, "b"), "?")
        if act == "?":
            raise UnsupportedOpError(f"{o.c.source}: FULLY_CONNECTED {o.name!r} has fused activation "
                                     f"{o.opt(0, 'b')}, which LiteRT's kernels do not apply either")
        key = o.c.b.node(o.name + "/2d", "_FusedMatMul", [x, w, _bias(o, 2, n)], fused_ops=["BiasAdd"])
        shaped = o.c.b.node(o.name + "/shaped" if act else o.name, "Reshape",
                            [key, o.c.const(o.name + "/shape", np.array([*xshape[:-1], n], np.int32))])
        o.out(o.activation(shaped, act, o.name))
        return
    o.emit("_FusedMatMul", [x, w, _bias(o, 2, n)], o.opt(0, "b"), fused=True)


def _binary(tf_op, fused_activation=False):
    def conv(o: _Op):
        o.emit(tf_op, [o.input(0), o.input(1)], o.opt(0, "b") if fused_activation else 0)
    return conv


def _unary(tf_op):
    return lambda o: o.emit(tf_op, [o.input(0)])


def hard_swish(o: _Op):
    """x * relu6(x + 3) / 6, as three element-wise nodes every backend runs natively."""
    x = o.input(0)
    shifted = o.c.b.node(o.name + "/plus3", "AddV2", [x, o.c.const(o.name + "/three", np.float32(3))])
    gate = o.c.b.node(o.name + "/relu6", "Relu6", [shifted])
    scaled = o.c.b.node(o.name + "/div6", "Mul", [gate, o.c.const(o.name + "/sixth", np.float32(1 / 6))])
    o.out(o.c.b.node(o.name, "Mul", [x, scaled]))


def leaky_relu(o: _Op):
    o.emit("LeakyRelu", [o.input(0)], alpha=float(o.opt(0, "f", 0.0)))


def pool(tf_op):
    def conv(o: _Op):
        # Pool2DOptions: padding 0, stride_w 1, stride_h 2, filter_w 3, filter_h 4, activation 5
        attrs = _spatial_attrs(o, 1, 2, 0)
        attrs["ksize"] = [1, o.opt(4, "i"), o.opt(3, "i"), 1]
        if min(attrs["ksize"]) < 1:
            raise ModelFormatError(f"pool filter {attrs['ksize'][1]}x{attrs['ksize'][2]}")
        o.emit(tf_op, [o.input(0)], o.opt(5, "b"), **attrs)
    return conv


def reshape(o: _Op):
    if o.has_input(1):
        shape = o.input(1)
    else:
        new_shape = o.options.array(0, np.int32) if o.options else np.zeros(0, np.int32)
        if not len(new_shape):
            new_shape = np.array(o.c.tensors[o.outs[0]].shape, np.int32)
        shape = o.c.const(o.name + "/shape", np.array(new_shape, np.int32))
    o.emit("Reshape", [o.input(0), shape])


def concatenation(o: _Op):
    axis = o.opt(0, "i")
    o.emit("ConcatV2", [o.input(k) for k in range(len(o.ins))] + [o.c.const(o.name + "/axis", np.int32(axis))],
           o.opt(1, "b"))


def pad(o: _Op):
    o.emit("PadV2" if o.has_input(2) else "Pad", [o.input(k) for k in range(len(o.ins)) if o.has_input(k)])


def resize(tf_op, ac_slot, hp_slot):
    def conv(o: _Op):
        o.emit(tf_op, [o.input(0), o.input(1)], align_corners=bool(o.opt(ac_slot, "b")),
               half_pixel_centers=bool(o.opt(hp_slot, "b")))
    return conv


def reduce(tf_op):
    def conv(o: _Op):
        o.emit(tf_op, [o.input(0), o.input(1)], keep_dims=bool(o.opt(0, "b")))
    return conv


def softmax(o: _Op):
    beta = o.opt(0, "f", 1.0)
    x = o.input(0)
    if beta != 1.0:
        x = o.c.b.node(o.name + "/beta", "Mul", [x, o.c.const(o.name + "/beta_value", np.float32(beta))])
    o.emit("Softmax", [x])


def depth_to_space(o: _Op):
    o.emit("DepthToSpace", [o.input(0)], block_size=o.opt(0, "i"), data_format="NHWC")


def squeeze(o: _Op):
    dims = [int(d) for d in o.options.array(0, np.int32)] if o.options else []
    o.emit("Squeeze", [o.input(0)], squeeze_dims=dims)


def strided_slice(o: _Op):
    # StridedSliceOptions: begin_mask 0, end_mask 1, ellipsis_mask 2, new_axis_mask 3, shrink_axis_mask 4
    names = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
    o.emit("StridedSlice", [o.input(k) for k in range(4)], **{n: o.opt(s, "i") for s, n in enumerate(names)})


def expand_dims(o: _Op):
    o.emit("ExpandDims", [o.input(0), o.input(1)])


def cast(o: _Op):
    o.emit("Cast", [o.input(0)], DstT=o.c.tensors[o.outs[0]].dtype)


def transpose(o: _Op):
    o.emit("Transpose", [o.input(0), o.input(1)])


def slice_(o: _Op):
    o.emit("Slice", [o.input(0), o.input(1), o.input(2)])


def transpose_conv(o: _Op):
    # TransposeConvOptions: padding 0, stride_w 1, stride_h 2, activation 3; inputs output_shape, OHWI weights,
    # input, bias?
    attrs = _spatial_attrs(o, 1, 2, 0)
    _transposed(o, o.input(0), 1, 2, 3 if o.has_input(3) else None, attrs, o.opt(3, "b"))


def conv2d_transpose_bias(o: _Op):
    """MediaPipe's custom op: inputs (input, OHWI weights, bias); custom_options are three int32
    (padding: 1 SAME, 2 VALID; stride_w; stride_h), TFLite's TfLiteTransposeConvParams."""
    raw = o.table.bytes(OP_CUSTOM_OPTIONS)
    if len(raw) < 12:
        raise ModelFormatError(f"custom options hold {len(raw)} bytes, need 12")
    padding, sw, sh = (int(v) for v in np.frombuffer(raw[:12], "<i4"))
    if padding not in (1, 2) or sw < 1 or sh < 1:
        raise ModelFormatError(f"bad transposed-conv options padding={padding} strides={sw}x{sh}")
    attrs = {"strides": [1, sh, sw, 1], "padding": "SAME" if padding == 1 else "VALID", "data_format": "NHWC"}
    out_shape = o.c.tensors[o.outs[0]].shape
    size = o.c.const(o.name + "/output_shape", np.array(out_shape, np.int32))
    _transposed(o, size, 1, 0, 2, attrs, 0)


def _transposed(o: _Op, size: str, w_k: int, x_k: int, bias_k: int | None, attrs: dict, activation: int):
    w = _filter(o, w_k, lambda v: v.transpose(1, 2, 0, 3))       # OHWI -> [KH, KW, CO, CI] (TF's layout)
    y = o.c.b.node(o.name + "/transposed", "Conv2DBackpropInput", [size, w, o.input(x_k)], **attrs)
    if bias_k is None:
        o.out(o.activation(y, FUSED_ACTIVATIONS.get(activation), o.name))
        return
    o.emit("BiasAdd", [y, o.input(bias_k)], activation)


def dequantize(o: _Op):
    v = o.value(0)
    if v is not None and v.dtype == np.float16:        # float16 weights: materialised now
        o.c.folded[o.outs[0]] = v.astype(np.float32)
        return
    t = o.tensor(0)
    if t.dtype != I8 or len(t.scale) != 1:
        raise UnsupportedOpError(f"{o.c.source}: DEQUANTIZE {o.name!r} of a {t.dtype.name} tensor "
                                 f"({len(t.scale)} scales); webtensor dequantises float16 constants and "
                                 f"per-tensor int8")
    o.emit("WtDequantize", [o.input(0)], scale=float(t.scale[0]), zero_point=int(t.zero_point[0]))


def quantize(o: _Op):
    t = o.c.tensors[o.outs[0]]
    src = o.tensor(0)
    if src.dtype != np.float32 or t.dtype != I8 or len(t.scale) != 1:
        raise UnsupportedOpError(f"{o.c.source}: QUANTIZE {o.name!r} from {src.dtype.name} to {t.dtype.name}: "
                                 f"webtensor quantises float32 to per-tensor int8")
    o.emit("WtQuantize", [o.input(0)], scale=float(t.scale[0]), zero_point=int(t.zero_point[0]))


def densify(o: _Op):
    t = o.tensor(0)
    o.c.folded[o.outs[0]] = densify_values(o.c, t)


def densify_values(c: _Converter, t: _Tensor) -> np.ndarray:
    """A sparse constant (TFLite's SparsityParameters: a traversal order over the dims and
    block dims, each dense or CSR) -> its dense array."""
    sp = t.table.table(T_SPARSITY)
    raw = c.buffer_bytes(t)
    if sp is None or raw is None:
        raise ModelFormatError(f"DENSIFY of {t.name!r}, which is not a sparse constant")
    values = np.frombuffer(raw, t.dtype.newbyteorder("<"))
    order = [int(v) for v in sp.array(SP_ORDER, np.int32)]
    block_map = [int(v) for v in sp.array(SP_BLOCK_MAP, np.int32)]
    dims = sp.tables(SP_DIMS)
    rank = len(t.shape)
    if sorted(order) != list(range(rank + len(block_map))) or len(dims) != len(order) or \
            any(not 0 <= b < rank for b in block_map):
        raise ModelFormatError(f"tensor {t.name!r}: inconsistent sparsity (order {order}, blocks {block_map})")
    block = [1] * rank
    for k, d in enumerate(block_map):
        block[d] = dims[order.index(rank + k)].scalar(DM_DENSE_SIZE, "i")
    # np.intp throughout: Pyodide is wasm32, where numpy indexes and repeats with int32 only
    pos = np.zeros(1, np.intp)                      # position of each partial path in the level
    coords = np.zeros((len(order), 1), np.intp)     # expanded coordinate of each path
    for level, dim in enumerate(order):
        md = dims[level]
        if md.scalar(DM_FORMAT, "b") == 0:         # dense: every index 0..size-1 under each path
            size = md.scalar(DM_DENSE_SIZE, "i")
            if size < 0 or len(pos) * size > 1 << 31:
                raise ModelFormatError(f"tensor {t.name!r}: bad dense size {size}")
            pos = (pos[:, None] * size + np.arange(size)).reshape(-1)
            coords = np.repeat(coords, size, axis=1)
            coords[dim] = np.tile(np.arange(size), len(pos) // max(size, 1))
        else:                                      # CSR: segments[p]..segments[p+1] index `indices`
            seg = _index_vector(md, DM_SEGMENTS_TYPE, DM_SEGMENTS, t.name)
            idx = _index_vector(md, DM_INDICES_TYPE, DM_INDICES, t.name)
            if len(seg) < (pos.max(initial=-1) + 2) or np.any(np.diff(seg) < 0) or seg[-1] > len(idx):
                raise ModelFormatError(f"tensor {t.name!r}: CSR segments do not fit their indices")
            counts = seg[pos + 1] - seg[pos]
            starts = np.repeat(seg[pos] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
            pos = starts + np.arange(int(counts.sum()))
            coords = np.repeat(coords, counts, axis=1)
            coords[dim] = idx[pos]
    if len(pos) != len(values) and not (len(pos) and pos.max() < len(values)):
        raise ModelFormatError(f"tensor {t.name!r}: {len(values)} stored values for {len(pos)} positions")
    dense = np.zeros(t.shape, t.dtype)
    full = [coords[d] * block[d] + (coords[rank + block_map.index(d)] if d in block_map else 0)
            for d in range(rank)]
    for d in range(rank):
        if np.any(full[d] >= t.shape[d]):
            raise ModelFormatError(f"tensor {t.name!r}: a sparse index falls outside shape {list(t.shape)}")
    dense[tuple(full)] = values[pos]
    return dense


def _index_vector(md: Table, type_slot: int, slot: int, name: str) -> np.ndarray:
    """A DimensionMetadata union: Int32Vector (1), Uint16Vector (2) or Uint8Vector (3), each a table
    whose field 0 is the values."""
    dtype = {1: np.int32, 2: np.uint16, 3: np.uint8}.get(md.scalar(type_slot, "B"))
    inner = md.table(slot)
    if dtype is None or inner is None:
        raise ModelFormatError(f"tensor {name!r}: a sparse dimension lacks its segments/indices")
    return inner.array(0, dtype).astype(np.intp)


# ------------------------------------------------------------------------------- int8
def _int8(o: _Op) -> bool:
    """True when the op runs on int8 activations (a fully-quantised model)."""
    return o.c.tensors[o.ins[0]].dtype == I8


def _requant_params(o: _Op, channels: int):
    """TFLite's real multiplier per output channel, in_scale * w_scale[c] / out_scale.  TFLite
    turns it into a Q31 fixed-point multiplier and shift; webtensor applies it in float32
    (ops/quant.py): outputs agree within one int8 step (tests/test_tflite.py measures it)."""
    x, w, y = o.c.tensors[o.ins[0]], o.tensor(1), o.c.tensors[o.outs[0]]
    if len(x.scale) != 1 or len(y.scale) != 1 or y.dtype != I8:
        raise UnsupportedOpError(f"{o.c.source}: {o.kind} {o.name!r}: int8 needs per-tensor input and output "
                                 f"scales and an int8 output")
    ws = w.scale if len(w.scale) == channels else np.full(channels, w.scale[0] if len(w.scale) else 0, np.float32)
    if len(w.scale) not in (1, channels) or np.any(w.zero_point != 0):
        raise UnsupportedOpError(f"{o.c.source}: {o.kind} {o.name!r}: int8 filters must be symmetric, "
                                 f"per tensor or per output channel")
    mult = (np.float64(x.scale[0]) * ws.astype(np.float64) / np.float64(y.scale[0])).astype(np.float32)
    return x, w, y, mult


def _qbias(o: _Op, k: int, x: _Tensor, w_sum: np.ndarray, channels: int) -> str:
    """int32 bias with the input zero point folded in (ops/quant.py: bias_q - x_zero * sum(w))."""
    b = o.value(k) if o.has_input(k) else np.zeros(channels, np.int32)
    if b is None or b.dtype != I32:
        raise UnsupportedOpError(f"{o.c.source}: {o.kind} {o.name!r}: int8 bias must be a constant int32")
    folded = b.astype(np.int64) - int(x.zero_point[0]) * w_sum
    return o.c.const(o.name + "/qbias", folded.astype(np.int32))


def _qact(o: _Op, y: _Tensor, activation: int) -> dict:
    """The fused activation folded into the int8 clamp (TFLite does the same)."""
    act = FUSED_ACTIVATIONS.get(activation, "?")
    s, z = float(y.scale[0]), int(y.zero_point[0])
    lo, hi = -128, 127
    if act in ("Relu", "Relu6"):
        lo = max(lo, z)
    if act == "Relu6":
        hi = min(hi, z + int(round(6 / s)))
    elif act not in (None, "Relu"):
        raise UnsupportedOpError(f"{o.c.source}: {o.kind} {o.name!r}: int8 with fused {act}")
    return {"out_zero_point": z, "qmin": lo, "qmax": hi, "x_zero_point": 0}


def _qconv(o: _Op, attrs: dict, depthwise: bool):
    channels = o.tensor(1).shape[3 if depthwise else 0]
    x, w, y, mult = _requant_params(o, channels)
    wv = o.value(1)
    if wv is None:
        raise UnsupportedOpError(f"{o.c.source}: {o.kind} {o.name!r}: int8 filter must be constant")
    _, kh, kw, _ = wv.shape
    if depthwise:
        cin = o.c.tensors[o.ins[0]].shape[3]
        if channels != cin:
            raise UnsupportedOpError(f"{o.c.source}: int8 depthwise {o.name!r} with a channel multiplier")
        hwio = wv.reshape(kh, kw, cin, 1)
        w_sum = hwio.astype(np.int64).sum(axis=(0, 1, 3))
    else:
        hwio = wv.transpose(1, 2, 3, 0)
        w_sum = hwio.astype(np.int64).sum(axis=(0, 1, 2))
    q = _qact(o, y, o.opt(4 if depthwise else 3, "b"))
    q["x_zero_point"] = int(x.zero_point[0])
    inputs = [o.input(0), o.c.const(o.name + "/qfilter", np.ascontiguousarray(hwio)),
              _qbias(o, 2, x, w_sum, channels), o.c.const(o.name + "/multiplier", mult)]
    op = "WtQDepthwiseConv2D" if depthwise else "WtQConv2D"
    o.out(o.c.b.node(o.name, op, inputs, out_dtype="int8", activation="", **attrs, **q))


def _qmatmul(o: _Op, x_key: str, keep: bool):
    channels = o.tensor(1).shape[0]
    x, w, y, mult = _requant_params(o, channels)
    wv = o.value(1)
    if wv is None or keep:
        raise UnsupportedOpError(f"{o.c.source}: int8 FULLY_CONNECTED {o.name!r} needs a constant filter and "
                                 f"rank-2 output")
    kn = np.ascontiguousarray(wv.T)
    q = _qact(o, y, o.opt(0, "b"))
    q.pop("x_zero_point")            # no padding in a matmul: the zero point lives wholly in the bias
    inputs = [x_key, o.c.const(o.name + "/qfilter", kn), _qbias(o, 2, x, kn.astype(np.int64).sum(axis=0), channels),
              o.c.const(o.name + "/multiplier", mult)]
    o.out(o.c.b.node(o.name, "WtQMatMul", inputs, out_dtype="int8", activation="", **q))


# int8 tensors may pass through these unchanged (TFLite requires equal input and output scales);
# the int8 arithmetic ops are CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, QUANTIZE, DEQUANTIZE
INT8_PASS_THROUGH = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "MAX_POOL_2D", "TRANSPOSE", "SLICE", "STRIDED_SLICE"}
INT8_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "DEQUANTIZE", "QUANTIZE"}


def check_int8(o: _Op) -> None:
    """Refuse int8 arithmetic webtensor would not compute as TFLite does (no silent rounding)."""
    ins = [o.c.tensors[i] for i in o.ins if 0 <= i < len(o.c.tensors) and not o.c.is_const(i)]
    if not any(t.dtype == I8 for t in ins) or o.kind in INT8_OPS:
        return
    y = o.c.tensors[o.outs[0]]
    same = all(len(t.scale) == 1 and len(y.scale) == 1 and t.scale[0] == y.scale[0]
               and t.zero_point[0] == y.zero_point[0] for t in ins)
    if o.kind not in INT8_PASS_THROUGH or not same:
        raise UnsupportedOpError(f"{o.c.source}: int8 {o.kind} {o.name!r}: webtensor's int8 ops are convs, "
                                 f"fully-connected, QUANTIZE/DEQUANTIZE and scale-preserving reshapes/max-pool")


CONVERTERS = {
    "CONV_2D": conv_2d, "DEPTHWISE_CONV_2D": depthwise_conv_2d, "FULLY_CONNECTED": fully_connected,
    "TRANSPOSE_CONV": transpose_conv,
    "ADD": _binary("AddV2", True), "SUB": _binary("Sub", True), "MUL": _binary("Mul", True),
    "DIV": _binary("RealDiv", True), "MAXIMUM": _binary("Maximum"), "MINIMUM": _binary("Minimum"),
    "SQUARED_DIFFERENCE": _binary("SquaredDifference"), "PRELU": _binary("Prelu"),
    "RELU": _unary("Relu"), "RELU6": _unary("Relu6"), "LOGISTIC": _unary("Sigmoid"), "TANH": _unary("Tanh"),
    "ELU": _unary("Elu"), "EXP": _unary("Exp"), "SQRT": _unary("Sqrt"), "RSQRT": _unary("Rsqrt"),
    "ABS": _unary("Abs"), "NEG": _unary("Neg"), "SQUARE": _unary("Square"), "FLOOR": _unary("Floor"),
    "RELU_N1_TO_1": lambda o: o.out(o.activation(o.input(0), "RELU_N1_TO_1", o.name)),
    "HARD_SWISH": hard_swish, "LEAKY_RELU": leaky_relu,
    "MAX_POOL_2D": pool("MaxPool"), "AVERAGE_POOL_2D": pool("AvgPool"),
    "RESHAPE": reshape, "CONCATENATION": concatenation, "PAD": pad, "PADV2": pad,
    "RESIZE_BILINEAR": resize("ResizeBilinear", 2, 3), "RESIZE_NEAREST_NEIGHBOR": resize("ResizeNearestNeighbor", 0, 1),
    "MEAN": reduce("Mean"), "SUM": reduce("Sum"), "REDUCE_MAX": reduce("Max"), "REDUCE_MIN": reduce("Min"),
    "SOFTMAX": softmax, "DEPTH_TO_SPACE": depth_to_space, "SQUEEZE": squeeze, "STRIDED_SLICE": strided_slice,
    "EXPAND_DIMS": expand_dims, "CAST": cast, "TRANSPOSE": transpose, "SLICE": slice_,
    "DEQUANTIZE": dequantize, "QUANTIZE": quantize, "DENSIFY": densify,
}
CUSTOM_CONVERTERS = {"Convolution2DTransposeBias": conv2d_transpose_bias}

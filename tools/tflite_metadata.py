"""Add TFLite image metadata to a .tflite file, so that MediaPipe Tasks (the benchmark's peer)
accepts MediaPipe's legacy face-detection models: Tasks refuses a float32 image input without
`NormalizationOptions` ("it requires specifying NormalizationOptions metadata", DESIGN.md).

The metadata is a FlatBuffer of TFLite Support's metadata_schema.fbs (file identifier "M001"),
stored in a model buffer that a `Metadata` entry named "TFLITE_METADATA" points to.  Built
here with the `flatbuffers` package; field slots from metadata_schema.fbs (a union takes two
slots: its type, then its value):
  ModelMetadata      name 0, subgraph_metadata 3, min_parser_version 7
  SubGraphMetadata   input_tensor_metadata 2, output_tensor_metadata 3
  TensorMetadata     name 0, content 3, process_units 4
  Content            content_properties_type 0, content_properties 1
  ImageProperties    color_space 0 (RGB = 1)
  ProcessUnit        options_type 0, options 1 (NormalizationOptions = 1)
  NormalizationOptions  mean 0, std 1
A bench/set-up tool (it needs flatbuffers and ai-edge-litert from requirements.txt), never run
by webtensor itself.
"""
from __future__ import annotations

import flatbuffers
import numpy as np

IMAGE_PROPERTIES, NORMALIZATION_OPTIONS, RGB = 2, 1, 1


def _floats(b: flatbuffers.Builder, values) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(float(v))
    return b.EndVector()


def _offsets(b: flatbuffers.Builder, offs: list[int]) -> int:
    b.StartVector(4, len(offs), 4)
    for o in reversed(offs):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def _table(b: flatbuffers.Builder, fields: list[tuple[int, int]], slots: int = 2) -> int:
    """A table of offset fields: [(slot, offset)]."""
    b.StartObject(slots)
    for slot, off in fields:
        b.PrependUOffsetTRelativeSlot(slot, off, 0)
    return b.EndObject()


def image_metadata(input_name: str, output_names: list[str], mean: float, std: float) -> bytes:
    b = flatbuffers.Builder(256)
    # input: RGB image, normalised (x - mean) / std
    b.StartObject(2)                                    # ImageProperties
    b.PrependInt8Slot(0, RGB, 0)
    props = b.EndObject()
    b.StartObject(3)                                    # Content
    b.PrependUint8Slot(0, IMAGE_PROPERTIES, 0)
    b.PrependUOffsetTRelativeSlot(1, props, 0)
    content = b.EndObject()
    norm = _table(b, [(0, _floats(b, [mean])), (1, _floats(b, [std]))])     # NormalizationOptions
    b.StartObject(2)                                    # ProcessUnit
    b.PrependUint8Slot(0, NORMALIZATION_OPTIONS, 0)
    b.PrependUOffsetTRelativeSlot(1, norm, 0)
    unit = b.EndObject()
    units = _offsets(b, [unit])
    name = b.CreateString(input_name)
    b.StartObject(7)                                    # TensorMetadata (input)
    b.PrependUOffsetTRelativeSlot(0, name, 0)
    b.PrependUOffsetTRelativeSlot(3, content, 0)
    b.PrependUOffsetTRelativeSlot(4, units, 0)
    tin = b.EndObject()
    outs = []
    for n in output_names:
        s = b.CreateString(n)
        b.StartObject(7)                                # TensorMetadata (output): a name only
        b.PrependUOffsetTRelativeSlot(0, s, 0)
        outs.append(b.EndObject())
    sg = _table(b, [(2, _offsets(b, [tin])), (3, _offsets(b, outs))], 9)               # SubGraphMetadata
    sgs = _offsets(b, [sg])
    model_name, version = b.CreateString("face detector"), b.CreateString("1.0.0")
    root = _table(b, [(0, model_name), (3, sgs), (7, version)], 8)                     # ModelMetadata
    b.Finish(root, file_identifier=b"M001")
    return bytes(b.Output())


def with_image_metadata(model: bytes, mean: float = 127.5, std: float = 127.5) -> bytes:
    """`model` with image metadata for its first input (RGB, (x - mean) / std)."""
    from ai_edge_litert import schema_py_generated as S
    m = S.ModelT.InitFromPackedBuf(model, 0)
    sg = m.subgraphs[0]
    name = lambda i: sg.tensors[i].name.decode() if isinstance(sg.tensors[i].name, bytes) else sg.tensors[i].name
    meta = image_metadata(name(sg.inputs[0]), [name(i) for i in sg.outputs], mean, std)
    buf = S.BufferT()
    buf.data = np.frombuffer(meta, np.uint8)
    m.buffers.append(buf)
    entry = S.MetadataT()
    entry.name = "TFLITE_METADATA"
    entry.buffer = len(m.buffers) - 1
    m.metadata = [e for e in (m.metadata or []) if e.name not in (b"TFLITE_METADATA", "TFLITE_METADATA")] + [entry]
    b = flatbuffers.Builder(len(model) + 4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())

"""Vision helpers: image decoding/preprocessing and the BlazeFace face detector."""
from .image import decode_image, letterbox, letterbox_input, resize_bilinear, to_model_input
from .blazeface import BlazeFace, blazeface_anchors, decode_boxes, weighted_nms

__all__ = ["decode_image", "letterbox", "letterbox_input", "resize_bilinear", "to_model_input", "BlazeFace",
           "blazeface_anchors", "decode_boxes", "weighted_nms"]

"""Vision helpers: image decoding/preprocessing and face detectors (BlazeFace from its TF.js
graph model, MediaPipe's short/full-range detectors from their .tflite files)."""
from .image import decode_image, letterbox, letterbox_input, resize_bilinear, to_model_input
from .blazeface import BlazeFace, SsdFaceDetector, blazeface_anchors, decode_boxes, weighted_nms
from .face_detector import MEDIAPIPE_FACE_MODELS, FaceDetector

__all__ = ["decode_image", "letterbox", "letterbox_input", "resize_bilinear", "to_model_input", "BlazeFace",
           "SsdFaceDetector", "FaceDetector", "MEDIAPIPE_FACE_MODELS", "blazeface_anchors", "decode_boxes",
           "weighted_nms"]

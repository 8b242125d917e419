"""Vision helpers: image decoding/preprocessing, face detectors (BlazeFace from its TF.js
graph model, MediaPipe's short/full-range detectors from their .tflite files) and MediaPipe's
hands pipeline (palm detection + 21 landmarks), and human's handtrack hand detector (a graph
model with a while loop and non-max suppression)."""
from .image import decode_image, letterbox, letterbox_input, resize_bilinear, to_model_input
from .blazeface import BlazeFace, SsdFaceDetector, blazeface_anchors, decode_boxes, weighted_nms
from .face_detector import MEDIAPIPE_FACE_MODELS, FaceDetector
from .hands import HandTracker, PalmDetector
from .handtrack import HandDetector

__all__ = ["decode_image", "letterbox", "letterbox_input", "resize_bilinear", "to_model_input", "BlazeFace",
           "SsdFaceDetector", "FaceDetector", "HandTracker", "PalmDetector", "HandDetector", "MEDIAPIPE_FACE_MODELS", "blazeface_anchors", "decode_boxes",
           "weighted_nms"]

"""The files inside each model's version directory (real SentinelCam names) and their demo sizes.

Configs name these files inside the resolved version directories; `make demo` generates stand-ins
of realistic size from this list.
"""

from __future__ import annotations

MODEL_FILES: dict[str, dict[str, int]] = {
    "mobilenet_ssd": {
        "MobileNetSSD_deploy.prototxt": 29_353,
        "MobileNetSSD_deploy.caffemodel": 23_147_564,
    },
    "mobilenet_ssd_depthai": {"mobilenet-ssd_openvino_2021.4_6shave.blob": 14_505_792},
    "mobilenet_ssd_edgetpu": {
        "ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite": 6_651_808,
        "coco_labels.txt": 1_038,
    },
    "face_detection": {
        "deploy.prototxt": 28_104,
        "res10_300x300_ssd_iter_140000.caffemodel": 10_666_211,
    },
    "face_detection_edgetpu": {"ssd_mobilenet_v2_face_quant_postprocess_edgetpu.tflite": 6_844_064},
    "face_detection_blazeface": {
        "face_detection_short_range.tflite": 229_746,
        "face_detection_full_range.tflite": 1_083_786,
    },
    "face_recognition": {
        "facemodel.pickle": 2_104_873,
        "baselines.hdf5": 1_377_024,
        "facelist.csv": 48_211,
        "facedata.hdf5": 3_512_448,
    },
    "haarcascades": {"haarcascade_eye.xml": 341_406},
    "openface_torch": {"openface_nn4.small2.v1.t7": 31_510_785},
}

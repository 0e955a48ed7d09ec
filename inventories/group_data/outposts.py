"""Outposts (camera nodes running imagenode) receive only the models listed here.

Override per host to add models, e.g. ("alpha5", {"outpost_models": ["mobilenet_ssd", "face_detection"]}).
"""

outpost_models = ["mobilenet_ssd"]

"""Outposts (camera nodes running imagenode) receive only the models listed here.

Override per host for cameras that need others, e.g. an OAK camera: ["mobilenet_ssd_depthai"];
a Coral camera: ["mobilenet_ssd", "mobilenet_ssd_edgetpu"].
"""

outpost_models = ["mobilenet_ssd"]

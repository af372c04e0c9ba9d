"""Run under the previous release: tiny checkpoints and their outputs (see README.md here).

    git worktree add OLD ad9946d
    PYTHONPATH=OLD python make_fixtures.py OUT       # OLD: the previous release's checkout
"""
import os, subprocess, sys, json, random, tempfile
import torch
import iiet_plugin
OLD = os.environ["PYTHONPATH"].split(os.pathsep)[0]
assert os.path.abspath(iiet_plugin.__file__).startswith(os.path.abspath(OLD)), iiet_plugin.__file__
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
BIN = os.path.dirname(sys.executable)
UD = os.path.dirname(iiet_plugin.__file__)
random.seed(0)
words = [f"w{i}" for i in range(30)]
work = tempfile.mkdtemp()
os.makedirs(work, exist_ok=True)
for split, n in (("train", 1000), ("valid", 100), ("test", 50)):
    for lang in ("en", "de", "txt"):
        with open(f"{work}/{split}.{lang}", "w") as f:
            for _ in range(n):
                f.write(" ".join(random.choice(words) for _ in range(random.randint(3, 9))) + "\n")
def run(*a):
    p = subprocess.run([os.path.join(BIN, a[0]), *map(str, a[1:])], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=OLD))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
run("fairseq-preprocess", "--only-source", "--trainpref", f"{work}/train.txt", "--validpref", f"{work}/valid.txt",
    "--destdir", f"{OUT}/lm-bin", "--workers", "1")
run("fairseq-preprocess", "--source-lang", "en", "--target-lang", "de", "--joined-dictionary", "--trainpref",
    f"{work}/train", "--validpref", f"{work}/valid", "--destdir", f"{OUT}/mt-bin", "--workers", "1")
common = ["--optimizer", "adam", "--lr", "0.001", "--max-update", "3", "--cpu", "--num-workers", "0",
          "--no-save-optimizer-state", "--no-epoch-checkpoints", "--seed", "1", "--user-dir", UD, "--max-tokens", "1024", "--required-batch-size-multiple", "1"]
run("fairseq-train", f"{OUT}/lm-bin", "--task", "language_modeling", "--arch", "iiet_lm_tiny", "--ode-solver", "pc",
    "--tokens-per-sample", "32", "--save-dir", f"{work}/lm", *common)
run("fairseq-train", f"{OUT}/mt-bin", "--task", "translation", "--arch", "iiet_transformer_tiny",
    "--encoder-ode-solver", "rk2", "--encoder-ode-coef", "gated", "--decoder-ode-solver", "iie",
    "--decoder-iie-layer-iters", "2,1", "--share-all-embeddings", "--save-dir", f"{work}/mt", *common)
os.replace(f"{work}/lm/checkpoint_last.pt", f"{OUT}/lm_pc.pt")
os.replace(f"{work}/mt/checkpoint_last.pt", f"{OUT}/mt_rk2_iie.pt")
from fairseq import checkpoint_utils
expected = {}
torch.manual_seed(0)
tokens = torch.randint(4, 30, (2, 7))
for name, over in (("lm_pc", {"data": f"{OUT}/lm-bin"}), ("mt_rk2_iie", {"data": f"{OUT}/mt-bin"})):
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([f"{OUT}/{name}.pt"], arg_overrides=over)
    m = models[0].eval()
    with torch.no_grad():
        if name == "lm_pc":
            expected[name] = m(tokens)[0]
        else:
            expected[name] = m(tokens, torch.tensor([7, 7]), tokens[:, :5])[0]
# vision: the recipe's checkpoint format, a tiny PC ViT trained for one step
import timm
from iiet_plugin.vision.checkpoints import save_checkpoint
kwargs = {"embed_dim": 32, "depth": 3, "num_heads": 2, "patch_size": 7}
model = timm.create_model("iiet_vit_tiny_patch4_28", ode_solver="pc", **kwargs).eval()
x = torch.randn(2, 1, 28, 28)
with torch.no_grad():
    expected["vit_pc"] = model(x)
save_checkpoint({"model": model.state_dict(), "args": {"model_kwargs": json.dumps(kwargs), "ode_solver": "pc"},
                 "model_name": "iiet_vit_tiny_patch4_28", "epoch": 0, "history": []}, f"{OUT}/vit_pc.pt")
torch.save({"inputs": {"tokens": tokens, "images": x}, "outputs": expected}, f"{OUT}/expected.pt")
print("wrote", sorted(os.listdir(OUT)))

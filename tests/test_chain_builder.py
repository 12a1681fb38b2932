"""The chain is built in one place (app/chain_builder.py), and the command line stops at the command.

Both read the app's source (nothing is imported for the search): a stabilizer,
compositor or frame chain constructed anywhere else in ``app/`` would be a second
chain builder again, the way ``bench`` once timed another stabilizer than ``convert``
ran; an ``argparse.Namespace`` taken below ``app/commands/`` ties a module to the
command line's option names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.chain_builder import ChainSettings, Compositing, build_chain, build_compositor
from app.files.keyframes import KeyframeProcessor
from dctnet.engine import Stylizer
from common.errors import LiveToonError
from dctnet.network import TTN
from flow.stabilize import Stabilizer
from flow.two_sided import TwoSidedStabilizer

APP = Path(__file__).resolve().parents[1] / "app"
BUILDER = APP / "chain_builder.py"
CONSTRUCTORS = {"Stabilizer", "TwoSidedStabilizer", "Compositor", "FrameProcessor"}


def called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def test_the_chain_is_built_in_one_place():
    found = []
    for path in sorted(APP.rglob("*.py")):
        if path == BUILDER:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and called_name(node) in CONSTRUCTORS:
                found.append(f"{path.relative_to(APP.parent)}:{node.lineno} {called_name(node)}(...)")
    assert not found, "built outside app/chain_builder.py: " + ", ".join(found)
    builder = {called_name(n) for n in ast.walk(ast.parse(BUILDER.read_text(encoding="utf-8"))) if isinstance(n, ast.Call)}
    assert CONSTRUCTORS <= builder, "the builder itself makes each of them (the search looks for the right names)"


def test_nothing_below_the_commands_takes_the_command_line():
    found = []
    for path in sorted(APP.rglob("*.py")):
        if (APP / "commands") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                    annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                    if arg.arg == "args" or "Namespace" in annotation:
                        found.append(f"{path.relative_to(APP.parent)}:{node.lineno} {node.name}({arg.arg})")
    assert not found, "takes the command line's Namespace below app/commands/: " + ", ".join(found)


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    weights = TTN(8).state_dict()
    return Stylizer(weights, weights, device="cpu", mode="background")


def test_a_file_gets_the_two_sided_stabilizer_and_live_the_causal_one(stylizer):
    file_chain = build_chain(stylizer, None, ChainSettings(0.65, whole_clip=True))
    assert type(file_chain.stabilizer) is TwoSidedStabilizer and file_chain.stabilizer.stability == 0.65
    assert build_chain(stylizer, None, ChainSettings(0.0, whole_clip=True)).stabilizer is None, "a file at 0: none"
    live = build_chain(stylizer, None, ChainSettings(0.0, strength=0.4))
    assert type(live.stabilizer) is Stabilizer, "live keeps one at 0: the slider can move it"
    assert live.strength == 0.4


def test_keyframes_wrap_the_file_chain_and_keep_its_settings(stylizer):
    chain = build_chain(stylizer, None, ChainSettings(0.65, whole_clip=True, strength=0.5, keyframes=4))
    assert isinstance(chain, KeyframeProcessor) and chain.keyframer.every == 4
    assert type(chain.stabilizer) is TwoSidedStabilizer and chain.strength == 0.5
    assert build_chain(stylizer, None, ChainSettings(0.65, whole_clip=True, keyframes=0)).keyframer.every is None
    with pytest.raises(ValueError):
        build_chain(stylizer, None, ChainSettings(0.65, keyframes=4))


def test_keep_needs_no_segmenter_and_a_bad_background_fails_before_one_loads():
    asked = []
    assert build_compositor(Compositing("keep"), lambda: asked.append(1)) is None
    with pytest.raises(LiveToonError):
        build_compositor(Compositing("no-such-picture.png"), lambda: asked.append(1))
    assert not asked, "no segmentation model for keep, nor for a background that cannot be used"

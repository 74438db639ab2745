"""`transplant-organ`: organ files without Hydra.

    transplant-organ inspect organ.safetensors
    transplant-organ extract smollm2_135m --start 10 --length 3 --out organ.safetensors
    transplant-organ extract path/to/checkpoint --stream --start 10 --length 3 --out o.safetensors
    transplant-organ implant smollm2_135m organ.safetensors --position 0 --out implanted/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _inspect(args: argparse.Namespace) -> None:
    from transplant.surgery.organ import Organ

    organ = Organ.load(args.organ)  # verifies the sha256
    params = sum(t.numel() for t in organ.tensors.values())
    print(json.dumps({**organ.manifest, "tensors": len(organ.tensors), "parameters": params,
                      "verified": True}, indent=2, default=str))


def _extract(args: argparse.Namespace) -> None:
    from transplant.surgery.organ import extract_organ, extract_organ_from_checkpoint

    if args.stream:
        organ = extract_organ_from_checkpoint(args.model, args.start, args.length)
    else:
        from transplant.models import load_model

        organ = extract_organ(load_model(args.model)[0], args.start, args.length)
        organ.manifest["source_model"] = args.model
    path = organ.save(args.out)
    print(f"wrote {path}: layers {organ.manifest['source_layers']} of {args.model}")


def _implant(args: argparse.Namespace) -> None:
    from transplant.atomic import replacing
    from transplant.models import load_model
    from transplant.surgery.organ import Organ, implant

    organ = Organ.load(args.organ)
    model, tokenizer = load_model(args.recipient)
    implant(model, organ, args.position, args.mode)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"transplant-organ: {out} exists and is not empty")
    with replacing(out, directory=True) as tmp:  # never a half-written model directory
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    print(f"wrote {out}: {args.recipient} with the organ at {args.position} ({args.mode})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transplant-organ", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inspect", help="print and verify an organ file's manifest")
    p.add_argument("organ")
    p.set_defaults(func=_inspect)
    p = sub.add_parser("extract", help="cut layers from a model into an organ file")
    p.add_argument("model", help="a model name (as for model=) or a checkpoint directory")
    p.add_argument("--start", type=int, required=True)
    p.add_argument("--length", type=int, default=3)
    p.add_argument("--out", required=True)
    p.add_argument("--stream", action="store_true",
                   help="read only the organ's tensors from a safetensors checkpoint directory")
    p.set_defaults(func=_extract)
    p = sub.add_parser("implant", help="implant an organ file and save the model directory")
    p.add_argument("recipient")
    p.add_argument("organ")
    p.add_argument("--position", type=int, required=True)
    p.add_argument("--mode", choices=("replace", "insert"), default="replace")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_implant)
    args = parser.parse_args(argv)
    from transplant.console import quiet_libraries
    from transplant.surgery.organ import OrganError

    quiet_libraries()

    try:
        args.func(args)
    except (OrganError, FileNotFoundError) as e:
        print(f"transplant-organ: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

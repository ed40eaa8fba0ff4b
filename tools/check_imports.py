"""Check that every third-party module `genriflow/` imports is declared in pyproject.toml.

Imports at module level (run on `import genriflow.x`) must come from `[project] dependencies`. Imports inside
functions must come from the dependencies or an extra, unless they sit in a `try` that handles ImportError (an
optional feature that says what to install). Run it in an environment holding the dev extra, so that import
names map to distributions: `python tools/check_imports.py`; it prints one line per problem and exits 1 if any.
"""
import ast, re, sys, tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# imported only where they are known to be present: IPython once `get_ipython()` has answered
PRESENT_WHEN_USED = {'IPython'}

def _name(req:str) -> str: return re.match(r'[A-Za-z0-9_.-]+', req).group(0).lower().replace('_', '-')

def declared():
    "(names of [project] dependencies, names of every extra's packages), normalized."
    proj = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
    extras = {_name(r) for reqs in proj.get('optional-dependencies', {}).values() for r in reqs}
    return {_name(r) for r in proj['dependencies']}, extras

def _guarded(node, parents) -> bool:
    "Whether `node` sits in a try whose handlers catch ImportError (or ModuleNotFoundError)."
    for p in parents:
        if isinstance(p, ast.Try) and any(h.type is not None and any(
                isinstance(n, ast.Name) and n.id in ('ImportError', 'ModuleNotFoundError') for n in ast.walk(h.type))
                for h in p.handlers): return True
    return False

def imports(path:Path):
    "Yield (top-level module name, line, at module level?, guarded by an ImportError handler?)."
    tree = ast.parse(path.read_text())
    def walk(node, parents, top):
        for child in ast.iter_child_nodes(node):
            mods = []
            if isinstance(child, ast.Import): mods = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0: mods = [child.module]
            for m in mods: yield m.split('.')[0], child.lineno, top, _guarded(child, parents)
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
            yield from walk(child, parents + [child], inner)
    yield from walk(tree, [], True)

def problems():
    deps, extras = declared()
    dists = {k: {_name(d) for d in v} for k, v in packages_distributions().items()}
    for path in sorted((ROOT / 'genriflow').glob('*.py')):
        for mod, line, top, guarded in imports(path):
            if mod in sys.stdlib_module_names or mod == 'genriflow' or mod == '__future__' or (
                    not top and mod in PRESENT_WHEN_USED): continue
            where = f'{path.relative_to(ROOT)}:{line}: {mod}'
            names = dists.get(mod)
            if names is None:
                if not guarded: yield f'{where} is not installed here, so its distribution is unknown'
                continue
            if top and not names & deps: yield f'{where} (from {", ".join(sorted(names))}) is imported at module level but not in [project] dependencies'
            elif not top and not guarded and not names & (deps | extras):
                yield f'{where} (from {", ".join(sorted(names))}) is in no dependency or extra'

if __name__ == '__main__':
    found = list(problems())
    print('\n'.join(found) or 'imports: every third-party import of genriflow/ is declared')
    sys.exit(1 if found else 0)

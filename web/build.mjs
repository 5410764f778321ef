// Builds web/dist/report.js and web/dist/console.js.
//   node build.mjs          build into dist/
//   node build.mjs --check  build (and buf generate) into a temp dir; fail if dist/ or src/gen/ differ
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");

async function build(outdir) {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: { report: "src/report.js", console: "src/console.js" },
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    minify: true,
    sourcemap: false,
    legalComments: "none",
    charset: "utf8",
    logLevel: "warning",
  });
}

function files(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

function compare(expectedDir, actualDir, label) {
  const problems = [];
  let a = [];
  try {
    a = files(actualDir);
  } catch {
    problems.push(`${label} is missing`);
  }
  const e = files(expectedDir);
  for (const f of e) {
    if (!a.includes(f)) problems.push(`${label}/${f} is missing`);
    else if (!readFileSync(join(expectedDir, f)).equals(readFileSync(join(actualDir, f)))) {
      problems.push(`${label}/${f} is out of date`);
    }
  }
  for (const f of a) if (!e.includes(f)) problems.push(`${label}/${f} should not be there`);
  return problems;
}

if (!check) {
  await build(join(root, "dist"));
} else {
  const tmp = mkdtempSync(join(tmpdir(), "bluelight-web-"));
  try {
    await build(join(tmp, "dist"));
    const problems = compare(join(tmp, "dist"), join(root, "dist"), "dist");
    const bin = join(root, "node_modules", ".bin");
    const gen = spawnSync(join(bin, "buf"), ["generate", "--output", tmp], {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    if (gen.status !== 0) problems.push("buf generate failed");
    else problems.push(...compare(join(tmp, "src", "gen"), join(root, "src", "gen"), "src/gen"));
    if (problems.length) {
      for (const p of problems) console.error(p);
      console.error("Run `npm run gen && npm run build` and commit the result.");
      process.exitCode = 1;
    } else {
      console.log("web/dist and web/src/gen are up to date");
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

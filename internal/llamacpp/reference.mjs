// Runs llama.cpp (node-llama-cpp's prebuilt CPU binaries) as a reference for
// LMX's tests and benchmarks. It loads one GGUF, prints one "ready" line, then
// answers one JSON line on stdout for each JSON-line request on stdin, in order.
// Logs go to stderr only: stdout carries nothing but answers.
//
// Usage: node reference.mjs --model PATH [--vocab-only] [--threads N] [--context N] [--batch N]
//
// Requests ({"cmd": ...}) and answers:
//   tokenize   {text, addSpecial, parseSpecial} -> {ids}
//              addSpecial adds BOS/EOS as llama_tokenize(add_special=true) does;
//              parseSpecial matches special-token text as for chat prompts.
//   detokenize {ids, special}                   -> {text}  (llama_detokenize, remove_special=false)
//   generate   {ids, n, ignoreEog}              -> {steps: [{token, top: [{id, p}, {id, p}], logitGap}]}
//              greedy, from a cleared sequence; logitGap = ln(p1/p2), the
//              difference of the two largest logits. Stops early on end of
//              generation unless ignoreEog.
//   bench      {ids, n}                         -> {prefillTokens, prefillMs, decodeTokens, decodeMs}
//              prefill = evaluating ids and sampling the first token; decode = n more tokens.
//   memory     {}                               -> {startRss, rss, peakRss, peakSinceReset}  (bytes)
//              the process's resident set when this script started (before
//              llama.cpp and the model were loaded), now, and its peak since
//              the last resetPeak where the system can restart it (Linux's
//              VmHWM; peakSinceReset true), else its lifetime peak
//              (getrusage maxrss, loading included).
//   resetPeak  {}                               -> {}  restarts the peak at the current resident set (Linux)
// The ready line also gives the versions: {version (node-llama-cpp), llamaCpp (its llama.cpp release)}.
// Any failure answers {error}.
import {readFileSync, writeFileSync} from "node:fs";
import readline from "node:readline";
import {getLlama, getModuleVersion, LlamaLogLevel} from "node-llama-cpp";

const startRss = process.memoryUsage.rss();

function parseArgs(argv) {
    const opts = {model: "", vocabOnly: false, threads: 1, context: 2048, batch: 512};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--vocab-only") opts.vocabOnly = true;
        else if (a === "--model") opts.model = argv[++i];
        else if (a === "--threads") opts.threads = Number(argv[++i]);
        else if (a === "--context") opts.context = Number(argv[++i]);
        else if (a === "--batch") opts.batch = Number(argv[++i]);
        else throw new Error(`unknown argument ${a}`);
    }
    if (!opts.model) throw new Error("--model is required");
    return opts;
}

// load starts llama.cpp and loads the model (and a one-sequence context
// unless vocabOnly). build "never" and skipDownload: the prebuilt binary or
// an error, never a download or compile of llama.cpp. An explicit small
// thread count: llama.cpp's worker threads spin, and a busy neighbour process
// slows them to a crawl.
async function load(opts) {
    const llama = await getLlama({
        gpu: false,
        build: "never",
        skipDownload: true,
        usePrebuiltBinaries: true,
        progressLogs: false,
        maxThreads: opts.threads,
        logLevel: LlamaLogLevel.warn,
        logger: (level, message) => process.stderr.write(`llama.cpp ${level}: ${message}\n`),
    });
    const model = await llama.loadModel({modelPath: opts.model, vocabOnly: opts.vocabOnly, gpuLayers: 0});
    if (opts.vocabOnly) return {llama, model, sequence: null};
    const context = await model.createContext({
        contextSize: opts.context,
        batchSize: opts.batch,
        sequences: 1,
        threads: {ideal: opts.threads, min: opts.threads},
    });
    return {llama, model, sequence: context.getSequence()};
}

let llama, model, sequence;
try {
    ({llama, model, sequence} = await load(parseArgs(process.argv.slice(2))));
} catch (err) {
    write({error: `load: ${err?.message ?? err}`});
    process.exit(1);
}

function tokenize({text, addSpecial, parseSpecial}) {
    const ids = model.tokenize(text, Boolean(parseSpecial));
    if (addSpecial) {
        if (model.tokens.shouldPrependBosToken && model.tokens.bos != null) ids.unshift(model.tokens.bos);
        if (model.tokens.shouldAppendEosToken && model.tokens.eos != null) ids.push(model.tokens.eos);
    }
    return {ids};
}

function needSequence() {
    if (sequence == null) throw new Error("the model was loaded with --vocab-only");
    return sequence;
}

async function generate({ids, n, ignoreEog}) {
    const seq = needSequence();
    await seq.clearHistory();
    const steps = [];
    if (!(n > 0)) return {steps};
    const it = seq.evaluateWithMetadata(ids, {probabilities: true}, {temperature: 0, yieldEogToken: true});
    for await (const out of it) {
        const top = [];
        for (const [id, p] of out.probabilities) {
            top.push({id, p});
            if (top.length === 2) break;
        }
        const logitGap = top.length === 2 ? Math.log(top[0].p / top[1].p) : null;
        steps.push({token: out.token, top, logitGap});
        if (steps.length >= n || (!ignoreEog && model.isEogToken(out.token))) break;
    }
    return {steps};
}

async function bench({ids, n}) {
    const seq = needSequence();
    await seq.clearHistory();
    const t0 = performance.now();
    let t1 = t0;
    let decoded = -1; // the first token sampled ends the prefill
    for await (const token of seq.evaluate(ids, {temperature: 0, yieldEogToken: true})) {
        void token;
        if (decoded < 0) t1 = performance.now();
        if (++decoded >= n) break;
    }
    const t2 = performance.now();
    return {prefillTokens: ids.length, prefillMs: t1 - t0, decodeTokens: Math.max(decoded, 0), decodeMs: t2 - t1};
}

const handlers = {
    tokenize,
    detokenize: ({ids, special}) => ({text: model.detokenize(ids, Boolean(special))}),
    generate,
    bench,
    memory,
    resetPeak: () => {
        peakSinceReset = resetPeak();
        return {};
    },
};

// resetPeak restarts the kernel's peak resident set count (Linux:
// /proc/self/clear_refs); false where the system cannot.
function resetPeak() {
    try {
        writeFileSync("/proc/self/clear_refs", "5");
        return true;
    } catch {
        return false;
    }
}

let peakSinceReset = false;

function memory() {
    const rss = process.memoryUsage.rss();
    let status = "";
    try {
        status = readFileSync("/proc/self/status", "utf8");
    } catch {
        // not Linux: the lifetime peak below
    }
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    if (hwm != null) return {startRss, rss, peakRss: Number(hwm[1]) * 1024, peakSinceReset};
    return {startRss, rss, peakRss: process.resourceUsage().maxRSS * 1024, peakSinceReset: false};
}

function write(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

write({
    ready: true,
    bos: model.tokens.bos ?? -1,
    eos: model.tokens.eos ?? -1,
    addBos: model.tokens.shouldPrependBosToken,
    addEos: model.tokens.shouldAppendEosToken,
    version: await getModuleVersion(),
    llamaCpp: llama.llamaCppRelease?.release ?? "",
});

const rl = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
for await (const line of rl) {
    if (line.trim() === "") continue;
    try {
        const req = JSON.parse(line);
        const handler = handlers[req.cmd];
        if (handler == null) throw new Error(`unknown cmd ${JSON.stringify(req.cmd)}`);
        write(await handler(req));
    } catch (err) {
        write({error: String(err?.message ?? err)});
    }
}
await model.dispose();
await llama.dispose();

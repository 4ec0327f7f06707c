#!/usr/bin/python3
"""Plain-PyTorch reference for armor_bench (issue 20): the same workloads, written as a PyTorch user writes
them (eager mode, no torch.compile / TorchScript, torch.nn modules, torch.optim.SGD), so armor's figures
can be set side by side with plain PyTorch on the same LibTorch kernels. Run it with Debian's interpreter,
/usr/bin/python3 (python3-torch 1.13, the libtorch_cpu.so.1.13 that armor links); a pyenv python3 has
no torch.

    /usr/bin/python3 tools/bench/pytorch_reference.py WORKLOAD [--threads N] [--warmup W] [--steps S] [--json]
                     [--device cuda] [--batch B] [--bf16] [--channels-last]

--device, --batch, --bf16 and --channels-last are armor_bench --device cuda's GPU variants (there the
interpreter is a PyTorch 2.x with CUDA, named by ARMOR_BENCH_PYTHON); on CUDA every timed step is
waited for with torch.cuda.synchronize().

One measurement: W untimed steps, then S timed steps; seconds_per_step is their median (armor_bench's
median_seconds), images_per_second = batch / seconds_per_step. --json prints one JSON object on one line,
else one human line. --serve keeps the process warm for interleaved rounds (see serve()). --describe
prints the model's parameter names and shapes (armor's names) and exits.

Workloads, the armor code each mirrors, and what differs:

  quickstart         One fast-AT training step of experiments/quickstart.toml (`build/armor config
                     experiments/quickstart.toml`): model/resnet depth 10, width_multiplier 0.25 (16
                     channels), stages 3, cifar stem, layer3.0 a BlockMoE (E = 4, k = 1) of residual
                     blocks; gate/topk (gap_fc router, noisy top-k while training: probs/std(probs) +
                     N(0, 0.1^2), capacity_factor 0); balancing/switch at weight 0.5; trainer/fast_at
                     (eps 0.1 from [attack], random start U(-eps, eps), one FGSM step of 1.25 eps, projected,
                     attack_mode "train", parameters frozen while crafting); SGD lr 0.2 cyclic (one cycle
                     over 2 epochs x 469 batches, peak at 0.4), momentum 0.9, Nesterov, weight decay 5e-4;
                     gradients set to None each step and the loss read on the host, as
                     core/sdk/src/train/epoch_trainer.cpp does. Fashion-MNIST-sized inputs 1x28x28, batch 128,
                     4 in-memory random batches (fixed seed) in turn.
                     Differs: armor's run reads Fashion-MNIST through its BatchLoader (shuffle + gather on
                     a background thread); here the batches are ready tensors. armor_bench fast_at_step(),
                     figure fast_at_step_quickstart_model_speed_over_pytorch (armor's side: 4 steps of its
                     own epoch loop on synthetic 28x28 images).
  quickstart_sgd     armor_bench training_step(), figure train_step_quickstart_model_28px_*: the
                     quickstart network (kSmallResnet, kFashion) built with the default topk gate (noisy in
                     training), one SGD step (lr 0.01, momentum 0.9, no Nesterov, no weight decay) on
                     cross-entropy only (no balancing loss, no attack), optimizer.zero_grad() (zeroes, as
                     LibTorch 1.13's Optimizer::zero_grad), one fixed random batch of 128 x 1x28x28.
  resnet18_convmoe   armor_bench training_step(), figure train_step_resnet18_convmoe_32px_*: model/resnet
                     depth 18, width 1, 4 stages, cifar stem, moe_type conv, moe_layers layer4, E = 4, k = 1:
                     every convolution of layer4 (layer4.0.conv1, .conv2, .downsample, layer4.1.conv1,
                     .conv2) is a MoE layer of 4 Conv2d with its own topk gate, BN/ReLU/shortcut shared.
                     kCifar: 3x32x32, mean 0.5, std 0.25, and 10 classes: armor_bench builds these with
                     kCifar's 10 classes, not 100 (the head is 512x10 instead of 512x100: <0.01% of the
                     step's FLOPs). SGD as quickstart_sgd, batch 128.
  resnet18_blockmoe  The same with moe_type block: layer4.0 and layer4.1 each a MoE layer of 4 residual
                     blocks (each with its own BN and downsample), figure train_step_resnet18_blockmoe_32px_*.
  pgd10_quickstart   armor_bench pgd_step(), figure pgd10_step_over_forward_backward: the quickstart
                     network in eval mode (plain top-k routing), attack/pgd eps 0.1, step 0.025, 10 steps,
                     random start, CE, L-inf, 1 restart, parameters frozen (input gradient only);
                     seconds_per_step is one whole PGD-10 (attack->perturb). It also reports
                     forward_backward_seconds: one zero_grad + CE forward + backward of the same batch
                     (armor_bench's `pass`), so ratio = seconds_per_step / 10 / forward_backward_seconds.
  pgd10_resnet18_convmoe, pgd10_resnet18_blockmoe
                     The same PGD-10 definition on the two ResNet-18 MoEs (3x32x32, batch 128): armor_bench
                     pgd_step_resnet18(), figures pgd10_step_resnet18_{conv,block}moe_speed_over_pytorch.

Common to all: sparse dispatch exactly as core/sdk/src/nn/moe_layer.cpp (the N*k (image, expert) pairs sorted
by expert with one argsort, one index_select, each expert once on its contiguous sub-batch, outputs
weighted and scattered back with one index_add, the counts read on the host once per layer); the k = 1
combine weight 1 with a straight-through gradient into the chosen probability (core/sdk/src/nn/gate.cpp
combine_weights); normalisation inside the model. Initialisation follows armor (Kaiming fan-out for
convolutions) but is irrelevant to speed. Unavoidable differences: Python dispatch overhead per op is
what is measured (that is the point); module names follow armor's (expert0.., gate.router.fc) rather
than nn.ModuleList's, which changes nothing at run time.

Routing at initialisation is part of the cost: an untrained gap_fc router tends to send most of a batch
to one expert (probs/std(probs) makes the 0.1 noise small next to the experts' mean differences), in
armor as here, but which split each side gets depends on its random weights. Every result therefore
carries expert_counts (images per expert in the last forward of each MoE layer, armor's
last_expert_counts()): compare them with armor's before reading a ratio.

JSON keys: workload, images_per_second, seconds_per_step (median), steps, threads, batch_size,
step_seconds (every timed step), torch_version, expert_counts, and forward_backward_seconds for pgd10_*.
"""

import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 128  # --batch
DEVICE = torch.device("cpu")  # --device
CHANNELS_LAST = False  # --channels-last: the model and its inputs in NHWC
BF16 = False  # --bf16: every step under torch.autocast(device, bfloat16)


def images(*shape):
    """Random images [N,C,H,W] in [0,1) on the benchmark's device (channels-last with --channels-last)."""
    x = torch.rand(*shape, device=DEVICE)
    return x.contiguous(memory_format=torch.channels_last) if CHANNELS_LAST else x


def labels(classes, count):
    return torch.randint(classes, (count,), device=DEVICE)

# (channels, height, width, classes, mean, std): armor_bench's kFashion and kCifar.
FASHION = (1, 28, 28, 10, (0.286,), (0.353,))
CIFAR = (3, 32, 32, 10, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


# ---------------------------------------------------------------------------------------------------
# The network: plugins/models/resnet, plugins/gates/topk, core/sdk/src/nn/{moe_layer,gate,routing_network}.cpp


class Routing:
    """A gate's output, as armor::GateOutput: logits, probs [N,E], indices [N,k], weights [N,E]."""

    __slots__ = ("logits", "probs", "indices", "weights")

    def __init__(self, logits, probs, indices, weights):
        self.logits, self.probs, self.indices, self.weights = logits, probs, indices, weights


def combine_weights(probs, indices):
    chosen = probs.gather(1, indices)
    if indices.size(1) == 1:
        values = chosen - chosen.detach() + 1.0  # weight 1, gradient of the chosen probability
    else:
        values = chosen / chosen.sum(1, keepdim=True).clamp_min(1e-12)
    return torch.zeros_like(probs).scatter(1, indices, values)


class RoutingNetwork(nn.Module):
    """gap_fc: global average pool -> Linear(C, E)."""

    def __init__(self, channels, experts):
        super().__init__()
        self.fc = nn.Linear(channels, experts)

    def forward(self, x):
        return self.fc(x.flatten(2).mean(2))


class TopKGate(nn.Module):
    """gate/topk with its defaults: gap_fc router, noise on, noise_std 0.1, capacity_factor 0."""

    def __init__(self, channels, experts, k, noise=True, noise_std=0.1):
        super().__init__()
        self.k, self.noise, self.noise_std = k, noise, noise_std
        self.router = RoutingNetwork(channels, experts)

    def forward(self, x):
        logits = self.router(x)
        probs = torch.softmax(logits, 1)
        scores = probs.detach()
        if self.training and self.noise:
            scores = scores / scores.std().clamp_min(1e-9) + torch.randn_like(scores) * self.noise_std
        indices = scores.topk(self.k, 1).indices  # capacity 0: plain top-k of the (noisy) scores
        return Routing(logits, probs, indices, combine_weights(probs, indices))


class MoELayer(nn.Module):
    """Sparse top-k MoE: each expert runs once, on the images routed to it."""

    def __init__(self, gate, experts, k):
        super().__init__()
        self.k = k
        self.gate = gate
        self.num_experts = len(experts)
        for e, expert in enumerate(experts):
            setattr(self, "expert%d" % e, expert)  # armor's names: expert0, expert1, ...
        self.experts = list(experts)
        self.last_routing = None
        self.last_counts = []

    def forward(self, x):
        routing = self.gate(x)
        self.last_routing = routing
        flat = routing.indices.reshape(-1)
        order = flat.argsort()
        sorted_images = torch.div(order, self.k, rounding_mode="floor")
        counts = torch.bincount(flat, minlength=self.num_experts).tolist()  # the one host sync
        self.last_counts = counts
        x_sorted = x.index_select(0, sorted_images)
        w_sorted = routing.weights.gather(1, routing.indices).reshape(-1).index_select(0, order)
        outputs, start = [], 0
        for expert, routed in zip(self.experts, counts):
            if routed == 0:
                continue
            outputs.append(expert(x_sorted.narrow(0, start, routed)))
            start += routed
        if not outputs:
            return self.experts[0](x)
        y = outputs[0] if len(outputs) == 1 else torch.cat(outputs, 0)
        y = y * w_sorted.view([-1] + [1] * (y.dim() - 1))
        return y.new_zeros((x.size(0),) + tuple(y.shape[1:])).index_add(0, sorted_images, y)


def kaiming(conv):
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


class ResidualBlock(nn.Module):
    """BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); make_conv(name, cin, cout,
    kernel, stride) builds each convolution (a Conv2d, or a MoELayer of Conv2d)."""

    def __init__(self, name, cin, planes, stride, make_conv):
        super().__init__()
        self.conv1 = make_conv(name + ".conv1", cin, planes, 3, stride)
        self.conv2 = make_conv(name + ".conv2", planes, planes, 3, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = make_conv(name + ".downsample", cin, planes, 1, stride)
            self.downsample_bn = nn.BatchNorm2d(planes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        shortcut = x if self.downsample is None else self.downsample_bn(self.downsample(x))
        return F.relu(h + shortcut)


class ResNet(nn.Module):
    """model/resnet (BasicBlock depths 10 and 18), cifar stem, block or conv MoE layers."""

    def __init__(self, data, depth, width_multiplier=1.0, stages=4, num_experts=4, k=1, moe_type="block",
                 moe_layers="layer4", gate_noise=True):
        super().__init__()
        channels, _, _, classes, mean, std = data
        blocks = {10: [1, 1, 1, 1], 18: [2, 2, 2, 2]}[depth]
        width = max(1, round(64 * width_multiplier))
        filters = [f.strip() for f in moe_layers.split(",") if f.strip()]
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.stem = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.moe_layers = []

        def matches(name):
            return any(name == f or name.startswith(f + ".") for f in filters)

        def make_moe(cin, make_expert):
            layer = MoELayer(TopKGate(cin, num_experts, k, noise=gate_noise), [make_expert() for _ in range(num_experts)], k)
            self.moe_layers.append(layer)
            return layer

        def plain_conv(name, cin, cout, kernel, stride):
            return kaiming(nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False))

        def moe_conv(name, cin, cout, kernel, stride):
            if num_experts == 1 or moe_type != "conv" or not matches(name):
                return plain_conv(name, cin, cout, kernel, stride)
            return make_moe(cin, lambda: plain_conv(name, cin, cout, kernel, stride))

        cin = width
        self.layers = []
        for layer in range(1, stages + 1):
            planes = width << (layer - 1)
            body = nn.Sequential()
            for b in range(blocks[layer - 1]):
                name = "layer%d.%d" % (layer, b)
                stride = 2 if layer > 1 and b == 0 else 1
                last = b + 1 == blocks[layer - 1]
                moe_block = num_experts > 1 and matches(name) and (
                    moe_type == "block" or (moe_type == "single_block" and last))
                if moe_block:
                    module = make_moe(cin, lambda n=name, c=cin, p=planes, s=stride: ResidualBlock(n, c, p, s, plain_conv))
                else:
                    module = ResidualBlock(name, cin, planes, stride, moe_conv)
                body.add_module(str(b), module)
                cin = planes
            setattr(self, "layer%d" % layer, body)
            self.layers.append(body)
        if num_experts > 1 and not self.moe_layers:
            raise ValueError("moe_layers %r matches no %s" % (moe_layers, "convolution" if moe_type == "conv" else "block"))
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        h = self.stem((x - self.mean) / self.std)
        for layer in self.layers:
            h = layer(h)
        return self.head(h.mean((2, 3)))


def small_resnet():
    """experiments/model/small_resnet.toml = armor_bench's kSmallResnet."""
    return ResNet(FASHION, depth=10, width_multiplier=0.25, stages=3, num_experts=4, k=1, moe_type="block",
                  moe_layers="layer3")


def resnet18_moe(moe_type):
    """armor_bench: depth 18, num_experts 4, k 1, moe_type conv|block, moe_layers layer4 on kCifar."""
    return ResNet(CIFAR, depth=18, num_experts=4, k=1, moe_type=moe_type, moe_layers="layer4")


# ---------------------------------------------------------------------------------------------------
# The losses and the attacks: plugins/balancing/losses (switch), plugins/attacks/pgd, plugins/trainers/fast_at


def switch_loss(probs):
    experts = probs.size(1)
    fraction = F.one_hot(probs.detach().argmax(1), experts).to(probs.dtype).mean(0)
    return experts * (fraction * probs.mean(0)).sum() - 1.0


class FrozenParameters:
    """armor::FrozenParameters: no parameter requires a gradient while crafting (input gradient only)."""

    def __init__(self, model):
        self.params = list(model.parameters())

    def __enter__(self):
        self.saved = [p.requires_grad for p in self.params]
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p, flag in zip(self.params, self.saved):
            p.requires_grad_(flag)


def input_gradient(model, x, y):
    with torch.enable_grad():
        inp = x.detach().requires_grad_(True)
        loss = F.cross_entropy(model(inp), y, reduction="none")
        return torch.autograd.grad(loss.sum(), inp)[0]


def project_linf(x_adv, x, eps):
    return torch.clamp(torch.min(torch.max(x_adv, x - eps), x + eps), 0.0, 1.0)


def pgd(model, x, y, eps=0.1, step_size=0.025, steps=10):
    """attack/pgd: L-inf, CE, random start, 1 restart, parameters frozen, the model's mode untouched."""
    with FrozenParameters(model):
        with torch.no_grad():
            adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0.0, 1.0)
        for _ in range(steps):
            grad = input_gradient(model, adv, y)
            with torch.no_grad():
                adv = project_linf(adv + step_size * grad.sign(), x, eps)
    return adv


# ---------------------------------------------------------------------------------------------------
# The workloads: each returns (step, batch, extras); step() runs one step, extras() adds figures.


def sgd_training_step(model, data):
    """armor_bench training_step(): SGD lr 0.01 momentum 0.9 on CE, one fixed batch."""
    channels, height, width, classes, _, _ = data
    x = images(BATCH, channels, height, width)
    y = labels(classes, BATCH)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=False)  # LibTorch 1.13's Optimizer::zero_grad zeroes
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step, None


def fast_at_quickstart(model):
    """One batch of trainer/fast_at in core/sdk/src/train/epoch_trainer.cpp's loop, quickstart settings."""
    eps, step_ratio, balancing_weight = 0.1, 1.25, 0.5
    lr_peak, cycle_peak, total_steps = 0.2, 0.4, 2 * math.ceil(60000 / BATCH)
    batches = [(images(BATCH, 1, 28, 28), labels(10, BATCH)) for _ in range(4)]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr_peak, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    state = {"step": 0}

    def cyclic_lr(t):  # core/sdk/src/train/lr_schedule.cpp, "cyclic" with cycle_steps = 0
        t = min(max(t, 0), total_steps - 1)
        peak = cycle_peak * total_steps
        if t <= peak:
            return lr_peak * t / peak if peak > 0 else lr_peak
        return lr_peak * max(0.0, (total_steps - t) / (total_steps - peak))

    def step():
        x, y = batches[state["step"] % len(batches)]
        lr = cyclic_lr(state["step"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.zero_grad(set_to_none=True)
        with FrozenParameters(model):  # attack_mode "train": crafted in train mode
            start = (x + (torch.rand_like(x) * 2.0 - 1.0) * eps).clamp(0.0, 1.0)
            grad = input_gradient(model, start, y)
            with torch.no_grad():
                adversarial = project_linf(start + step_ratio * eps * grad.sign(), x, eps)
        logits = model(adversarial)
        ce = F.cross_entropy(logits, y)
        aux = torch.zeros((), device=DEVICE)
        for layer in model.moe_layers:  # armor::BalancingTerm over every MoE layer's last routing
            aux = aux + balancing_weight * switch_loss(layer.last_routing.probs)
        loss = ce + aux
        if not math.isfinite(loss.item()):
            raise RuntimeError("non-finite training loss")
        loss.backward()
        optimizer.step()
        # The epoch totals armor keeps (three more host reads).
        ce.item(), aux.item(), logits.argmax(1).eq(y).sum().item()
        state["step"] += 1

    return step, None


def pgd10(model, data):
    """armor_bench pgd_step(): eval mode; a step is one PGD-10; extras: one forward+backward."""
    channels, height, width, classes, _, _ = data
    x = images(BATCH, channels, height, width)
    y = labels(classes, BATCH)
    model.eval()

    def step():
        pgd(model, x, y, eps=0.1, step_size=0.025, steps=10)

    def forward_backward():
        model.zero_grad(set_to_none=False)  # LibTorch 1.13's Module::zero_grad() zeroes
        F.cross_entropy(model(x), y).backward()

    return step, forward_backward


WORKLOADS = {
    "quickstart": (small_resnet, lambda m: fast_at_quickstart(m), "armor_bench fast_at_step_quickstart_model"),
    "quickstart_sgd": (small_resnet, lambda m: sgd_training_step(m, FASHION), "armor_bench train_step_quickstart_model_28px"),
    "resnet18_convmoe": (lambda: resnet18_moe("conv"), lambda m: sgd_training_step(m, CIFAR), "armor_bench train_step_resnet18_convmoe_32px"),
    "resnet18_blockmoe": (lambda: resnet18_moe("block"), lambda m: sgd_training_step(m, CIFAR), "armor_bench train_step_resnet18_blockmoe_32px"),
    "pgd10_quickstart": (small_resnet, lambda m: pgd10(m, FASHION), "armor_bench pgd_step (pgd10_step_over_forward_backward)"),
    "pgd10_resnet18_convmoe": (lambda: resnet18_moe("conv"), lambda m: pgd10(m, CIFAR), "armor_bench pgd10_step_resnet18_convmoe"),
    "pgd10_resnet18_blockmoe": (lambda: resnet18_moe("block"), lambda m: pgd10(m, CIFAR), "armor_bench pgd10_step_resnet18_blockmoe"),
}


def timed(fn, steps):
    """Seconds of each of `steps` calls; on CUDA each call is waited for (the kernels are asynchronous)."""
    synchronize = torch.cuda.synchronize if DEVICE.type == "cuda" else (lambda: None)
    times = []
    for _ in range(steps):
        synchronize()
        start = time.perf_counter()
        if BF16:
            with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
                fn()
        else:
            fn()
        synchronize()
        times.append(time.perf_counter() - start)
    return times


def median(times):
    # armor_bench's median_seconds: the element at n/2 after sorting (the upper median for even n).
    return sorted(times)[len(times) // 2]


def result(args, model, times, extra_times):
    seconds = median(times)
    out = {
        "workload": args.workload,
        "images_per_second": BATCH / seconds,
        "seconds_per_step": seconds,
        "steps": len(times),
        "threads": torch.get_num_threads(),
        "batch_size": BATCH,
        "step_seconds": times,
        "torch_version": torch.__version__,
        "device": str(DEVICE),
        "channels_last": CHANNELS_LAST,
        "bf16": BF16,
        # Images per expert in the last forward of each MoE layer (armor: last_expert_counts()). The
        # routing at initialisation decides how the batch splits, and so part of the cost: compare
        # these with armor's before reading a ratio.
        "expert_counts": [layer.last_counts for layer in model.moe_layers],
    }
    if extra_times:
        out["forward_backward_seconds"] = median(extra_times)
    return out


def emit(args, out):
    if args.json:
        print(json.dumps(out), flush=True)
        return
    line = "%s: %.4g images/s, %.4g s/step (median of %d steps after %d warm-up, %d threads, batch %d)" % (
        out["workload"], out["images_per_second"], out["seconds_per_step"], out["steps"], args.warmup,
        out["threads"], BATCH)
    line += "; experts' images %s" % out["expert_counts"]
    if "forward_backward_seconds" in out:
        line += "; forward+backward %.4g s, PGD-10 / 10 / forward+backward = %.3g" % (
            out["forward_backward_seconds"], out["seconds_per_step"] / 10.0 / out["forward_backward_seconds"])
    print(line, flush=True)


def serve(args, model, step, extra):
    """Interleaved rounds: after the warm-up, print {"ready": true, ...} and then, for each line N read
    from stdin, time N steps and print one result object (always JSON, one line, flushed). "quit" or
    end of input exits. The process sleeps in readline() while armor measures its own round."""
    print(json.dumps({"ready": True, "workload": args.workload, "threads": torch.get_num_threads()}), flush=True)
    while True:
        line = sys.stdin.readline()  # blocks until armor asks for the next round
        if not line or line.strip() == "quit":
            break
        line = line.strip()
        if not line:
            continue
        steps = int(line)
        times = timed(step, steps)
        extra_times = timed(extra, steps) if extra else None
        print(json.dumps(result(args, model, times, extra_times)), flush=True)


def describe(model):
    total = 0
    for name, p in model.named_parameters():
        total += p.numel()
        print("%s %s" % (name, list(p.shape)))
    print("parameters %d in %d tensors; %d MoE layers" % (total, len(list(model.parameters())), len(model.moe_layers)))


def main():
    parser = argparse.ArgumentParser(
        description="Plain-PyTorch reference for armor_bench (eager PyTorch, the same network, gate, "
                    "balancing loss, attack and optimiser as armor). See the comment at the top of this file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workloads:\n" + "\n".join("  %-24s %s" % (k, v[2]) for k, v in WORKLOADS.items()))
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1, as armor_bench)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps; their median is reported (default 3, as armor_bench)")
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N (armor_bench --device)")
    parser.add_argument("--batch", type=int, default=128, help="images per step (default 128)")
    parser.add_argument("--channels-last", action="store_true", help="the model and its inputs in channels-last (NHWC)")
    parser.add_argument("--bf16", action="store_true", help="every step under torch.autocast(device, torch.bfloat16)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a human line")
    parser.add_argument("--serve", action="store_true",
                        help="after the warm-up, time N steps per line N read from stdin, one JSON line each")
    parser.add_argument("--describe", action="store_true", help="print the model's parameters and exit")
    args = parser.parse_args()
    if args.threads < 1 or args.steps < 1 or args.warmup < 0 or args.batch < 1:
        parser.error("--threads, --steps and --batch must be >= 1, --warmup >= 0")
    global BATCH, DEVICE, CHANNELS_LAST, BF16
    BATCH, CHANNELS_LAST, BF16 = args.batch, args.channels_last, args.bf16
    try:
        DEVICE = torch.device(args.device)
    except RuntimeError as error:
        parser.error("--device %r: %s" % (args.device, error))
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device %s: this torch has no CUDA or sees no GPU" % args.device)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    make_model, make_workload, _ = WORKLOADS[args.workload]
    model = make_model().to(DEVICE)
    if CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last)
    if args.describe:
        describe(model)
        return 0
    step, extra = make_workload(model)
    timed(step, args.warmup)
    if extra:
        timed(extra, args.warmup)
    if args.serve:
        serve(args, model, step, extra)
        return 0
    times = timed(step, args.steps)
    extra_times = timed(extra, args.steps) if extra else None
    emit(args, result(args, model, times, extra_times))
    return 0


if __name__ == "__main__":
    sys.exit(main())

import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { onAbort } from "../src/index.js";

describe("onAbort", () => {
  it("calls each registered callback once, oldest first, behind one listener on the signal", () => {
    const controller = new AbortController();
    const calls: number[] = [];
    for (let i = 0; i < 50; i++) onAbort(controller.signal, () => calls.push(i));
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    controller.abort();
    controller.abort();
    expect(calls).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it("an unregistered callback is never called, wherever it sat; unregistering twice is harmless", () => {
    const controller = new AbortController();
    const calls: string[] = [];
    const stops = ["a", "b", "c", "d", "e"].map((name) => onAbort(controller.signal, () => calls.push(name)));
    stops[0]!(); // oldest (list tail)
    stops[2]!(); // middle
    stops[4]!(); // newest (list head)
    stops[2]!();
    const late = onAbort(controller.signal, () => calls.push("f"));
    controller.abort();
    late();
    expect(calls).toEqual(["b", "d", "f"]);
  });

  it("a callback that unregisters a later one during the abort stops it from running", () => {
    const controller = new AbortController();
    const calls: string[] = [];
    let stopSecond = (): void => {};
    onAbort(controller.signal, () => {
      calls.push("first");
      stopSecond();
    });
    stopSecond = onAbort(controller.signal, () => calls.push("second"));
    onAbort(controller.signal, () => calls.push("third"));
    controller.abort();
    expect(calls).toEqual(["first", "third"]);
  });

  it("thousands of register/unregister cycles on one signal leave nothing registered", () => {
    const controller = new AbortController();
    let called = 0;
    for (let i = 0; i < 5000; i++) {
      const stops = Array.from({ length: 16 }, () => onAbort(controller.signal, () => called++));
      for (const stop of stops.reverse()) stop();
    }
    const kept = onAbort(controller.signal, () => called++);
    controller.abort();
    kept();
    expect(called).toBe(1);
  });
});

// A camera's live view (GET /v1/streams/{id}/live, docs/media.md): its analysed frames as they are
// analysed, each a JPEG part of a multipart answer whose headers carry its capture time and boxes.
// The page reads the answer itself (with the session's cookie) rather than handing it to an <img>,
// so each frame's boxes arrive with that very frame and a name is never drawn on a later picture.
import { useEffect, useState } from "react";
import { type Frame } from "../api";

/** What a part says of its frame (its X-Frame header). */
export type FrameFacts = Omit<Frame, "jpeg">;

/** A frame shown: an object URL of its JPEG (revoked when the next one comes) and its facts. */
export interface LiveFrame {
  url: string;
  facts: FrameFacts;
}

/** Wait before asking again after a view ended or failed, ms: doubled each time, up to the last. */
const RETRY_MS = [1000, 2000, 5000, 10_000];

const DELIMITER = new TextEncoder().encode("--sightline-frame\r\n");
const HEAD_END = new TextEncoder().encode("\r\n\r\n");

/** Where `needle` first occurs in `haystack` from `from`, or -1. */
function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Reads the parts of a live view from its bytes, as they arrive. */
export class PartReader {
  private buffer = new Uint8Array(0);

  push(chunk: Uint8Array) {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    this.buffer = joined;
  }

  /** The next whole part (its JPEG and facts), or null until it has all arrived. */
  next(): { jpeg: Uint8Array; facts: FrameFacts } | null {
    const start = indexOf(this.buffer, DELIMITER);
    if (start < 0) return null;
    const headEnd = indexOf(this.buffer, HEAD_END, start);
    if (headEnd < 0) return null;
    const head = new TextDecoder().decode(this.buffer.subarray(start + DELIMITER.length, headEnd));
    const headers = new Map(
      head.split("\r\n").map((line) => {
        const colon = line.indexOf(":");
        return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()] as const;
      }),
    );
    const length = Number(headers.get("content-length"));
    if (!Number.isFinite(length)) throw new Error("a part of the live view without its length");
    const body = headEnd + HEAD_END.length;
    if (this.buffer.length < body + length) return null;
    const jpeg = this.buffer.slice(body, body + length);
    this.buffer = this.buffer.slice(body + length);
    return { jpeg, facts: JSON.parse(headers.get("x-frame") ?? "{}") as FrameFacts };
  }
}

/** Why a live view is not showing, in words, or null while it does (or has not started). */
export type LiveProblem = string | null;

/**
 * The live view of stream `id` (null: none is watched), at most `fps` frames a second: the latest
 * frame, and what is wrong while it cannot be shown. A view that ends (the stream restarted or moved
 * to another instance) or fails is asked for again, with a growing pause.
 */
export function useLiveView(id: string | null, fps: number): { frame: LiveFrame | null; problem: LiveProblem } {
  const [frame, setFrame] = useState<LiveFrame | null>(null);
  const [problem, setProblem] = useState<LiveProblem>(null);
  useEffect(() => {
    setFrame(null);
    setProblem(null);
    if (!id) return;
    const stop = new AbortController();
    let shown: string | null = null;
    let failures = 0;
    const show = (jpeg: Uint8Array, facts: FrameFacts) => {
      const url = URL.createObjectURL(new Blob([jpeg as BlobPart], { type: "image/jpeg" }));
      if (shown) URL.revokeObjectURL(shown);
      shown = url;
      failures = 0;
      setFrame({ url, facts });
      setProblem(null);
    };
    const watch = async () => {
      while (!stop.signal.aborted) {
        try {
          const response = await fetch(`/api/v1/streams/${id}/live?fps=${fps}`, { signal: stop.signal });
          if (!response.ok || !response.body) {
            const body = (await response.json().catch(() => ({}))) as { error?: string };
            throw new Error(body.error ?? `the live view answered ${response.status}`);
          }
          const reader = response.body.getReader();
          const parts = new PartReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            parts.push(value);
            for (let part = parts.next(); part; part = parts.next()) show(part.jpeg, part.facts);
          }
          setProblem("The live view was interrupted; reconnecting…");
        } catch (error) {
          if (stop.signal.aborted) return;
          setProblem(`No live view: ${(error as Error).message}. Trying again…`);
        }
        const pause = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
        failures += 1;
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    };
    void watch();
    return () => {
      stop.abort();
      if (shown) URL.revokeObjectURL(shown);
    };
  }, [id, fps]);
  return { frame, problem };
}

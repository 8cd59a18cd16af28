/**
 * Where each observation of a ROS robot stands in its episode, for a sequence policy's context.
 *
 * The robot's per-step topics (fleet-link.ts): after each step it publishes one reward (Float32),
 * one done and one truncated (Bool) message, before its next observation; after an episode end it
 * publishes the final observation (answered, its action not applied), then the next episode's
 * first. ROS orders each topic but not across topics, so the k-th message of each topic is
 * matched with the k-th step, not with whatever observation came last:
 *
 *  - an observation is a step of the current episode: it gets the rewards of the episode's
 *    earlier steps received since the previous observation (a reward that arrives after the
 *    next observation is handed out with the one after: the return-to-go is then one step late
 *    but its total stays exact; rewards of an ended episode are dropped);
 *  - once the end of the episode (step k done or truncated) is known, the observation after
 *    step k's is its final one (answered within the episode) and the one after that starts a new
 *    episode. An end that arrives one observation late is still placed right; later than that,
 *    the context starts again at the next observation (counted in `late`);
 *  - reset() (the node's reset_topic): the next observation starts a new episode — for robots
 *    that publish no final observation, or that restart an episode on their own.
 *
 * Without a done/truncated topic episodes end only by reset(); without a reward topic the
 * return-to-go stays at the target return.
 */
export interface EpisodeStep {
  /** This observation starts an episode. */
  start: boolean;
  /** Rewards of earlier steps of this episode not handed out before. */
  reward: number;
}

export class EpisodeFeed {
  /** Global index of the next step-start observation. */
  private step = 0;
  /** Global step index of the current episode's first step. */
  private epStart = 0;
  /** The step at which the current episode ended, once known. */
  private end: number | null = null;
  /** That episode's final observation was seen. */
  private finalSeen = false;
  private resetNext = false;
  private rewards = 0;
  private dones = 0;
  private truncs = 0;
  private pending = 0;
  /** Episode ends that arrived more than one observation late (the context restarted late). */
  late = 0;
  private readonly event: EpisodeStep = { start: false, reward: 0 };

  /** An observation arrived (answered or not): where it stands. The returned object is reused. */
  observation(): EpisodeStep {
    const e = this.event;
    if (this.resetNext || (this.end !== null && this.finalSeen)) {
      this.newEpisode(this.step);
      e.start = true;
      e.reward = 0;
      this.step++;
      return e;
    }
    if (this.end !== null && this.step === this.end + 1) {
      this.finalSeen = true; // the final observation: within the ended episode, no step of its own
      e.start = false;
    } else {
      e.start = this.step === this.epStart;
      this.step++;
    }
    e.reward = e.start ? 0 : this.pending;
    this.pending = 0;
    return e;
  }

  reward(r: number): void {
    if (this.rewards++ >= this.epStart) this.pending += r;
  }

  done(d: boolean): void {
    const k = this.dones++;
    if (d) this.ended(k);
  }

  truncated(t: boolean): void {
    const k = this.truncs++;
    if (t) this.ended(k);
  }

  /** The next observation starts a new episode. */
  reset(): void {
    this.resetNext = true;
  }

  private ended(k: number): void {
    if (k < this.epStart || (this.end !== null && this.end <= k)) return; // an earlier episode's, or known
    this.end = k;
    const after = this.step - (k + 1); // observations taken for steps after k
    if (after >= 1) {
      // The first of them was the final observation; any others began the next episode in the old context.
      this.finalSeen = true;
      this.step = k + 1;
      if (after >= 2) {
        this.late++;
        this.resetNext = true;
        this.step = k + after;
      }
    }
  }

  private newEpisode(first: number): void {
    this.epStart = first;
    this.step = first;
    this.end = null;
    this.finalSeen = false;
    this.resetNext = false;
    this.pending = 0;
  }
}

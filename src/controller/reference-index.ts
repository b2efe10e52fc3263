// Which objects reference which chains, so that a chain appearing or disappearing
// recomputes exactly the objects that name it.
export class ReferenceIndex {
  private readonly byChain = new Map<string, Set<string>>();
  private readonly byObject = new Map<string, Set<string>>();

  /** Replaces the chains an object references. */
  set(objectKey: string, chainKeys: Iterable<string>): void {
    this.remove(objectKey);
    const chains = new Set(chainKeys);
    if (chains.size === 0) return;
    this.byObject.set(objectKey, chains);
    for (const chain of chains) {
      let objects = this.byChain.get(chain);
      if (!objects) this.byChain.set(chain, (objects = new Set()));
      objects.add(objectKey);
    }
  }

  remove(objectKey: string): void {
    for (const chain of this.byObject.get(objectKey) ?? []) {
      const objects = this.byChain.get(chain);
      objects?.delete(objectKey);
      if (objects?.size === 0) this.byChain.delete(chain);
    }
    this.byObject.delete(objectKey);
  }

  objectsUsing(chainKey: string): string[] {
    return [...(this.byChain.get(chainKey) ?? [])];
  }
}

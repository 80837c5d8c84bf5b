import Foundation
internal import BlazeDBBindings

/// One change to a database, as upstream.
public struct DatabaseChange: Sendable {
    public enum ChangeType: Sendable {
        case insert(UUID)
        case update(UUID)
        case delete(UUID)
        case batchInsert(count: Int)
        case batchUpdate(count: Int)
        case batchDelete(count: Int)
    }

    public let type: ChangeType
    /// The client's `name` (upstream tags changes with the database name).
    public let collectionName: String?
    public let timestamp: Date
    public let recordID: UUID?

    public init(type: ChangeType, collectionName: String? = nil, timestamp: Date = Date()) {
        self.type = type
        self.collectionName = collectionName
        self.timestamp = timestamp
        switch type {
        case .insert(let id), .update(let id), .delete(let id): recordID = id
        default: recordID = nil
        }
    }
}

public typealias ChangeObserver = @Sendable ([DatabaseChange]) -> Void

/// Keeps an observer registered; `invalidate()` or releasing the token unregisters it.
public final class ObserverToken: Sendable {
    private let id: UUID
    private let unregister: @Sendable (UUID) -> Void

    init(id: UUID, unregister: @escaping @Sendable (UUID) -> Void) {
        self.id = id
        self.unregister = unregister
    }

    deinit { unregister(id) }

    public func invalidate() { unregister(id) }
}

/// One client's observers. It subscribes to the core's change feed on the first observer
/// and, as upstream, collects changes for 50 ms and then calls every observer on the main
/// queue with the batch. Changes are scoped to this client's database (upstream's were
/// process-wide).
final class ObserverHub: ChangeListener, @unchecked Sendable {
    private let db: BlazeDBBindings.Database
    private let name: String
    private let lock = NSLock()
    private var observers: [UUID: ChangeObserver] = [:]
    private var subscription: BlazeDBBindings.Subscription?
    private var pending: [DatabaseChange] = []
    private var flushScheduled = false
    private var stopped = false
    static let batchDelay: TimeInterval = 0.05

    init(db: BlazeDBBindings.Database, name: String) {
        self.db = db
        self.name = name
    }

    func register(_ observer: @escaping ChangeObserver) -> ObserverToken {
        let id = UUID()
        lock.lock()
        observers[id] = observer
        let needsFeed = subscription == nil && !stopped
        lock.unlock()
        if needsFeed, let sub = try? db.subscribe(listener: self) {
            lock.lock()
            if subscription == nil, !stopped { subscription = sub; lock.unlock() } else { lock.unlock(); sub.cancel() }
        }
        return ObserverToken(id: id) { [weak self] id in self?.unregister(id) }
    }

    private func unregister(_ id: UUID) {
        lock.lock()
        observers.removeValue(forKey: id)
        let idle = observers.isEmpty ? subscription : nil
        if idle != nil { subscription = nil }
        lock.unlock()
        idle?.cancel()
    }

    /// The database is closing: no more deliveries.
    func stop() {
        lock.lock()
        stopped = true
        let sub = subscription
        subscription = nil
        lock.unlock()
        sub?.cancel()
    }

    var observerCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return observers.count
    }

    // MARK: ChangeListener (called on the core's delivery thread)

    func onChanges(batch: ChangeBatch) {
        let now = Date()
        let changes: [DatabaseChange] = batch.changes.compactMap { c in
            guard let id = UUID(uuidString: c.id) else { return nil }
            let type: DatabaseChange.ChangeType
            switch c.kind {
            case .inserted: type = .insert(id)
            case .updated: type = .update(id)
            case .deleted: type = .delete(id)
            }
            return DatabaseChange(type: type, collectionName: name, timestamp: now)
        }
        enqueue(changes)
    }

    func onLagged(missed: UInt64) {
        // The core dropped batches for a slow listener (never with 50 ms coalescing in
        // practice). Upstream has no such notice; observers re-read on the next change.
    }

    private func enqueue(_ changes: [DatabaseChange]) {
        guard !changes.isEmpty else { return }
        lock.lock()
        pending.append(contentsOf: changes)
        let schedule = !flushScheduled
        flushScheduled = true
        lock.unlock()
        if schedule {
            DispatchQueue.main.asyncAfter(deadline: .now() + Self.batchDelay) { [self] in flush() }
        }
    }

    private func flush() {
        lock.lock()
        let changes = pending
        pending.removeAll()
        flushScheduled = false
        let current = Array(observers.values)
        lock.unlock()
        guard !changes.isEmpty else { return }
        for observer in current { observer(changes) }
    }
}

extension BlazeDBClient {
    /// Calls `observer` on the main queue with the changes of each commit, batched over
    /// 50 ms. Keep the token: releasing it unregisters the observer.
    @discardableResult
    public func observe(_ observer: @escaping ChangeObserver) -> ObserverToken {
        observers.register(observer)
    }

    /// Like `observe(_:)`, passing on inserts and updates only if the record (fetched when
    /// the batch is delivered) matches `predicate`; deletes always pass (upstream's rule).
    @discardableResult
    public func observe(where predicate: @escaping @Sendable (BlazeDataRecord) -> Bool, changes observer: @escaping ChangeObserver) -> ObserverToken {
        observers.register { [weak self] changes in
            guard let self else { return }
            let relevant = changes.filter { change in
                switch change.type {
                case .insert(let id), .update(let id):
                    return (try? self.fetch(id: id)).flatMap { $0 }.map(predicate) ?? false
                default:
                    return true
                }
            }
            if !relevant.isEmpty { observer(relevant) }
        }
    }
}

import Foundation

/// Password strength levels, upstream's scale.
public enum PasswordStrength: Int, Comparable, Sendable {
    case veryWeak = 0
    case weak = 1
    case fair = 2
    case good = 3
    case strong = 4
    case veryStrong = 5

    public static func < (lhs: PasswordStrength, rhs: PasswordStrength) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        ["Very Weak", "Weak", "Fair", "Good", "Strong", "Very Strong"][rawValue]
    }
}

/// Upstream's password policy. BlazeDB enforces `Requirements.recommended` when a database
/// is opened, exactly as upstream does at key derivation, so an app's password rules do not
/// change. The password then encrypts the file (docs/BINDINGS.md, "Encryption").
public struct PasswordStrengthValidator: Sendable {
    /// The rules a password must meet.
    public struct Requirements: Sendable {
        public let minLength: Int
        public let requireUppercase: Bool
        public let requireLowercase: Bool
        public let requireNumbers: Bool
        public let requireSymbols: Bool
        public let minStrength: PasswordStrength

        public init(
            minLength: Int = 8,
            requireUppercase: Bool = false,
            requireLowercase: Bool = false,
            requireNumbers: Bool = false,
            requireSymbols: Bool = false,
            minStrength: PasswordStrength = .fair
        ) {
            self.minLength = minLength
            self.requireUppercase = requireUppercase
            self.requireLowercase = requireLowercase
            self.requireNumbers = requireNumbers
            self.requireSymbols = requireSymbols
            self.minStrength = minStrength
        }

        /// What opening a database enforces: 12+ characters, an uppercase letter, a lowercase
        /// letter, a digit, and an estimated strength of at least `.good`.
        public static let recommended = Requirements(
            minLength: 12, requireUppercase: true, requireLowercase: true,
            requireNumbers: true, requireSymbols: false, minStrength: .good
        )

        /// 16+ characters with every character class, strength `.strong`.
        public static let strict = Requirements(
            minLength: 16, requireUppercase: true, requireLowercase: true,
            requireNumbers: true, requireSymbols: true, minStrength: .strong
        )

        /// One line for user-facing errors.
        public var policySummary: String {
            var parts = ["\(minLength)+ chars"]
            if requireUppercase { parts.append("uppercase") }
            if requireLowercase { parts.append("lowercase") }
            if requireNumbers { parts.append("number") }
            let isRecommendedProfile = minLength == 12 && requireUppercase && requireLowercase
                && requireNumbers && minStrength == .good
            if requireSymbols || isRecommendedProfile { parts.append("special character") }
            return parts.joined(separator: ", ")
        }
    }

    /// Why a password was rejected.
    public struct PolicyFailure: Error, Sendable, CustomStringConvertible {
        public let estimatedStrength: PasswordStrength
        public let missingRequirements: [String]
        public let policySummary: String

        public init(estimatedStrength: PasswordStrength, missingRequirements: [String], policySummary: String) {
            self.estimatedStrength = estimatedStrength
            self.missingRequirements = missingRequirements
            self.policySummary = policySummary
        }

        public var userMessage: String { "Password rejected.\nRequirements: \(policySummary)." }

        public var logMessage: String {
            (["Password rejected by policy.", "Detected strength: \(estimatedStrength.description)"]
                + missingRequirements.map { "Missing requirement: \($0)" }).joined(separator: "\n")
        }

        public var description: String { userMessage }
    }

    private static func isUpper(_ c: Character) -> Bool {
        c.isLetter && c.uppercased() == String(c) && c.lowercased() != String(c)
    }

    private static func isLower(_ c: Character) -> Bool {
        c.isLetter && c.lowercased() == String(c) && c.uppercased() != String(c)
    }

    private static func isSymbol(_ c: Character) -> Bool {
        !c.isLetter && !c.isNumber && !c.isWhitespace
    }

    /// The failed rules, or nil if `password` meets `requirements`.
    public static func evaluatePolicy(_ password: String, requirements: Requirements = .recommended) -> PolicyFailure? {
        let strength = calculateStrength(password)
        var missing: [String] = []
        if password.count < requirements.minLength { missing.append("at least \(requirements.minLength) characters") }
        if requirements.requireUppercase && !password.contains(where: isUpper) { missing.append("uppercase letter") }
        if requirements.requireLowercase && !password.contains(where: isLower) { missing.append("lowercase letter") }
        if requirements.requireNumbers && !password.contains(where: { $0.isNumber }) { missing.append("number") }
        if requirements.requireSymbols && !password.contains(where: isSymbol) { missing.append("special character") }
        if strength < requirements.minStrength {
            missing.append("estimated strength at least \(requirements.minStrength.description)")
        }
        if missing.isEmpty { return nil }
        return PolicyFailure(estimatedStrength: strength, missingRequirements: missing, policySummary: requirements.policySummary)
    }

    /// Throws the `PolicyFailure` if `password` does not meet `requirements`.
    public static func validate(_ password: String, requirements: Requirements = .recommended) throws {
        if let failure = evaluatePolicy(password, requirements: requirements) { throw failure }
    }

    /// Upstream's estimate: a point per length step (8, 12, 16, 20), a point per character
    /// class beyond the first (up to 3), minus one for a common pattern; clamped to 0...5.
    public static func calculateStrength(_ password: String) -> PasswordStrength {
        let n = password.count
        var score = [8, 12, 16, 20].filter { n >= $0 }.count
        let classes = [
            password.contains(where: isUpper), password.contains(where: isLower),
            password.contains(where: { $0.isNumber }), password.contains(where: isSymbol),
        ].filter { $0 }.count
        score += max(0, classes - 1)
        let lower = password.lowercased()
        if ["123", "abc", "password", "qwerty", "admin"].contains(where: { lower.contains($0) }) {
            score = max(0, score - 1)
        }
        return PasswordStrength(rawValue: min(5, max(0, score))) ?? .veryWeak
    }
}

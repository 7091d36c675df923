# Accord — français. Tous les textes du parcours de connexion, de la page de gestion et des
# avis intégrés. L'anglais est dans ../en/accord.ftl ; un test vérifie que les deux sont complets,
# et un autre la typographie française (espaces insécables, apostrophe ’, guillemets « »).

## Habillage des pages
skip-to-content = Aller au contenu
language-switch = Langue
trust-label = Pourquoi vous pouvez avoir confiance
trust-message-default = Connectez vos comptes professionnels en toute sécurité. Vous choisissez ce qui est partagé et vous pouvez couper l’accès à tout moment.
trust-message-default-tenant = Connectez vos comptes professionnels à { $tenant } en toute sécurité. Vous choisissez ce qui est partagé et vous pouvez couper l’accès à tout moment.
promise-disconnect = Vous pouvez couper l’accès à tout moment : le partage s’arrête aussitôt.
help-heading = Besoin d’aide ?
help-guide = Guide de connexion et questions fréquentes
help-phone = Téléphone :
help-email = E-mail :
help-form = Envoyer une demande d’assistance
help-privacy = Politique de confidentialité
help-terms = Conditions d’utilisation
powered-by = Sécurisé par Accord
back-to-platforms = Retour à la liste des plateformes

## Catégories, types de données, sens, statuts
category-accounting = Comptabilité
category-banking = Banque
category-commerce = Commerce
data-type-company-info = Informations sur l’entreprise
data-type-accounts = Plan comptable
data-type-invoices = Factures clients
data-type-bills = Factures fournisseurs
data-type-customers = Clients
data-type-suppliers = Fournisseurs
data-type-payments = Paiements
data-type-bank-accounts = Comptes bancaires
data-type-bank-transactions = Opérations bancaires
data-type-balance-sheet = Bilan
data-type-profit-and-loss = Compte de résultat
data-type-orders = Commandes
data-type-products = Produits
data-type-payouts = Versements
data-type-disputes = Litiges
direction-read = en lecture depuis { $platform }
direction-write = en écriture vers { $platform }
status-pending-auth = En attente d’identification
status-linked = Connecté
status-deauthorized = Accès coupé par la plateforme
status-disconnected = Accès coupé
status-reconsent-required = Votre accord est de nouveau nécessaire

## Accueil
landing-title = Connectez vos comptes
landing-heading = Connectez vos comptes à { $tenant }
landing-lead = { $tenant } invite { $company } à connecter les logiciels et comptes qu’elle utilise, pour consulter vos chiffres sans que vous ayez à envoyer de documents.
landing-step-choose = Choisissez la plateforme que vous utilisez.
landing-step-review = Lisez exactement ce qui sera partagé et pourquoi, puis donnez votre accord.
landing-step-sign-in = Identifiez-vous sur le site de la plateforme pour confirmer.
landing-assurance-password = Vous vous identifiez sur le site de la plateforme : votre mot de passe n’est jamais vu par { -brand } ni par { $tenant }.
landing-assurance-sharing = { $tenant } ne partage jamais vos données avec des tiers sans votre consentement.
landing-start = Commencer
-brand = Accord

## Choix de la plateforme
select-title = Choisissez une plateforme
select-heading = Quelle plateforme utilisez-vous ?
select-sign-in-explainer = Vous vous identifierez sur le site de la plateforme. Votre mot de passe n’est jamais vu par Accord ni par { $tenant }.
select-connected-count = { $count ->
    [one] Vous avez connecté 1 compte pendant cette visite. Vous pouvez en ajouter un autre.
   *[other] Vous avez connecté { $count } comptes pendant cette visite. Vous pouvez en ajouter un autre.
}
select-search-label = Rechercher une plateforme
select-search-button = Rechercher
select-no-results = Aucune plateforme ne correspond à « { $query } ».
select-connected = Connecté ✓
select-platform-missing = Vous ne trouvez pas votre plateforme ? Indiquez-nous laquelle vous utilisez.

## Consentement
consent-title = Connecter votre compte { $platform }
consent-already-connected = Votre compte { $platform } est déjà connecté. Le connecter de nouveau remplace l’accord existant.
notice-heading = { $tenant } demande à utiliser vos données { $category ->
    [accounting] comptables
    [banking] bancaires
   *[commerce] commerciales
} de votre compte { $platform }
notice-category = Catégorie
notice-purpose = Pourquoi elles sont utilisées
notice-data-used = Données utilisées
notice-retention = Durée de conservation
notice-sharing = Partage avec des tiers
notice-withdrawal = Comment retirer votre accord
notice-privacy-policy = Politique de confidentialité
notice-version = Version de ces conditions
consent-checkbox = J’accepte que { $tenant } utilise les données ci-dessus pour la finalité décrite, comme indiqué dans sa
consent-privacy-link = politique de confidentialité (s’ouvre dans un nouvel onglet)
consent-sign-in-note = Ensuite, vous vous identifierez sur le site de { $platform } pour confirmer. Accord ne voit jamais votre mot de passe.
consent-connect = Accepter et connecter
consent-decline = Non merci
consent-error-unticked = Pour connecter votre compte, cochez la case afin d’indiquer votre accord. Rien n’a été partagé.
consent-error-changed = Ces conditions viennent d’être mises à jour. Merci de les relire avant de donner votre accord.

## Refus
declined-title = Rien n’a été partagé
declined-body = Vous avez choisi de ne pas connecter votre compte { $platform }. Aucune donnée n’a été partagée et seul votre choix a été enregistré.

## Erreurs de retour de la plateforme
callback-error-title = La connexion n’a pas abouti
callback-error-heading = Votre compte { $platform } n’a pas été connecté
callback-error-denied = Vous avez choisi de ne pas donner l’accès sur le site de { $platform }. Rien n’a été partagé. Vous pouvez réessayer quand vous le souhaitez.
callback-error-generic = Un problème est survenu pendant la confirmation par { $platform }. Rien n’a été partagé. Réessayez, ou demandez de l’aide.
callback-error-code = Code d’erreur : { $code }
callback-error-retry = Réessayer
callback-error-support = Demander de l’aide

## Succès
success-title = Compte connecté
success-heading = Votre compte { $platform } est connecté
success-lead = Merci. Votre connexion est active et protégée.
success-disconnect-heading = Vous changez d’avis ?
success-disconnect-body = Vous pouvez couper l’accès à tout moment depuis la page qui liste vos connexions. Le partage s’arrête aussitôt et l’accès de { $tenant } à votre compte { $platform } est supprimé.
success-add-another = Connecter un autre compte
success-manage = Voir et gérer mes connexions
success-done = J’ai terminé
connection-granted = accord donné le { $date }
connection-shares = Ce qui est partagé :
connection-proof = Code de preuve de ces conditions, pour un conseiller technique :

## Fin
finished-title = C’est terminé
finished-lead = Vous avez connecté :
finished-none = Vous n’avez connecté aucun compte. Rien n’a été partagé.
finished-close = Vous pouvez fermer cette fenêtre et revenir sur le site de { $tenant }.

## Page de gestion
manage-title = Vos connexions
manage-lead = Les comptes que { $company } a connectés à { $tenant }, ce que chacun partage et depuis quand.
manage-empty = Vous n’avez aucune connexion.
manage-disconnect = Couper l’accès à { $platform }
manage-disconnected = L’accès à votre compte { $platform } est coupé. Le partage est arrêté et l’accès de { $tenant } à votre compte { $platform } a été supprimé.
manage-confirm-title = Couper l’accès à votre compte { $platform } ?
manage-confirm-body = { $tenant } cessera aussitôt de recevoir des données de votre compte { $platform }, et son accès à ce compte sera supprimé. Vous pourrez le connecter de nouveau plus tard si vous le souhaitez.
manage-confirm-yes = Oui, couper l’accès
manage-confirm-no = Non, garder la connexion

## Nouvel accord (les conditions ont changé, ou l'accord a expiré)
reconsent-title = Consulter les nouvelles conditions pour votre compte { $platform }
reconsent-intro-changed = { $tenant } a modifié les conditions d’utilisation des données de votre compte { $platform } depuis votre accord du { $date }. Le partage depuis ce compte est suspendu jusqu’à ce que vous acceptiez les nouvelles conditions.
reconsent-intro-expired = Le { $date }, vous avez accepté de partager avec { $tenant } les données de votre compte { $platform }. Cet accord est arrivé au terme de sa durée de validité : le partage est suspendu jusqu’à ce que vous le confirmiez.
reconsent-changes-heading = Ce qui a changé
reconsent-no-changes = Les conditions sont identiques à celles que vous avez acceptées. Seule votre confirmation est nécessaire.
reconsent-uses-added = Désormais utilisées aussi :
reconsent-uses-removed = Ne sont plus utilisées :
reconsent-diff-legend = Les mots supprimés sont barrés ; les mots ajoutés sont soulignés.
reconsent-diff-removed = supprimé :
reconsent-diff-added = ajouté :
reconsent-diff-language = { $language ->
    [fr] Cette comparaison est en français, la langue des conditions que vous avez acceptées.
   *[en] Cette comparaison est en anglais, la langue des conditions que vous avez acceptées.
}
reconsent-checkbox = J’accepte que { $tenant } continue d’utiliser les données ci-dessus pour la finalité décrite, comme indiqué dans sa
reconsent-agree = J’accepte
reconsent-decline = Pas maintenant
reconsent-disconnect = Couper plutôt l’accès à { $platform }
reconsent-disconnect-via-manage = Couper plutôt l’accès (depuis la page qui liste vos connexions)
reconsent-error-unticked = Pour continuer le partage, cochez la case afin d’indiquer votre accord. Rien n’a changé.
reconsent-back-manage = Retour à vos connexions
reconsent-review-again = Relire les nouvelles conditions
reconsent-done-title = Accord enregistré
reconsent-done-heading = Votre compte { $platform } est de nouveau connecté
reconsent-done-lead = Merci. Votre accord aux nouvelles conditions est enregistré et le partage depuis votre compte { $platform } a repris. Vous n’avez pas eu besoin de vous identifier de nouveau.
reconsent-declined-title = Rien n’a changé
reconsent-declined-body = Le partage depuis votre compte { $platform } reste suspendu : { $tenant } ne peut pas utiliser ses données tant que vous n’avez pas accepté les nouvelles conditions. Vous pouvez revenir les accepter à tout moment, ou couper l’accès.
select-reconsent-lead = Les conditions ont changé pour ces connexions. Merci de les consulter :
select-reconsent-review = Consulter les conditions pour { $platform }
manage-reconsent-note = Le partage depuis votre compte { $platform } est suspendu : les conditions ont changé, ou votre accord est arrivé au terme de sa durée de validité.
manage-reconsent-review = Consulter et accepter de nouveau
manage-deauthorized-note = { $platform } a mis fin à l’accès de { $tenant } : le partage est arrêté. Cela arrive lorsque l’accès est retiré dans les paramètres de { $platform }, ou lorsqu’il arrive à échéance. Pour partager de nouveau, reconnectez votre compte.
manage-reconnect = Reconnecter votre compte { $platform }

## Assistance
support-title = Demander de l’aide
support-lead = Expliquez à { $tenant } ce qui se passe et comment vous joindre. { $tenant } vous répondra.
support-topic = Pour quoi avez-vous besoin d’aide ?
support-topic-platform-missing = Je ne trouve pas ma plateforme
support-topic-connection-failed = La connexion a échoué
support-topic-privacy-question = Une question sur mes données et leur confidentialité
support-topic-other = Autre chose
support-message = Votre message
support-reply-to = Votre adresse e-mail ou votre numéro de téléphone
support-reply-hint = Pour que { $tenant } puisse vous répondre.
support-diagnostics-note = Pour aider { $tenant }, des détails techniques sur cette étape (aucun mot de passe, aucune donnée financière) sont joints à votre demande.
support-send = Envoyer ma demande
support-prefill-error = La connexion a échoué avec le code d’erreur { $code }.
support-prefill-platform = Je ne trouve pas ma plateforme dans la liste. J’utilise :
support-prefill-platform-searched = Je ne trouve pas ma plateforme dans la liste. J’ai cherché « { $query } ». J’utilise :
support-error-topic = Choisissez le sujet de votre demande.
support-error-message = Écrivez un message de 4 000 caractères au plus.
support-error-reply = Saisissez une adresse e-mail (comme nom@exemple.fr) ou un numéro de téléphone.
support-done-title = Demande envoyée
support-done-body = Merci. Votre référence est { $reference }. Rappelez-la si vous contactez de nouveau { $tenant }.
support-done-back = Retour
form-errors-heading = Merci de corriger les points suivants
form-error-title-prefix = Erreur :

## Erreurs
error-reference = Référence pour l’assistance : { $id }
error-help-hint = Si vous avez besoin d’aide, utilisez les coordonnées ci-dessous.
error-session-title = Votre session a expiré
error-session-body = Pour votre sécurité, cette page nécessite le lien qui vous a été envoyé. Ouvrez-le de nouveau ou demandez-en un nouveau.
error-link-title = Ce lien n’est plus utilisable
error-link-body = Les liens ne fonctionnent qu’une fois et pour une durée limitée. Demandez un nouveau lien pour continuer.
error-not-found-title = Page introuvable
error-not-found-body = Cette page n’existe pas ou n’est plus disponible.
error-state-title = Cette identification n’a pas pu être confirmée
error-state-body = La réponse de la plateforme ne correspond à aucune identification commencée dans ce navigateur, ou elle est arrivée trop tard. Rien n’a été partagé. Recommencez la connexion.
error-authorization-over-title = Cette autorisation est terminée
error-authorization-over-body = Cette autorisation a déjà été menée à bien ou a expiré : rien de plus n’a été partagé. Démarrez-en une nouvelle depuis le service d’où vous venez.
error-return-title = L’identification sur la plateforme est terminée
error-return-body = Cette page ne peut pas vous ramener à votre point de départ : cette adresse n’est plus acceptée. Fermez cette fenêtre et revenez au service d’où vous venez ; il peut vous dire si la connexion a réussi.
error-forbidden-title = Cette action a été refusée
error-forbidden-body = Pour votre sécurité, le formulaire n’a pas pu être accepté. Rechargez la page et réessayez.
error-bad-request-title = Cette demande comportait une erreur
error-bad-request-body = Revenez en arrière et réessayez.
error-too-many-title = Trop de tentatives
error-too-many-body = Patientez un instant avant de réessayer.
error-internal-title = Un problème est survenu
error-internal-body = Rien n’a été partagé. Réessayez dans un instant.

## Guide
guide-title = Guide de connexion
guide-lead = Comment fonctionne la connexion de vos comptes, et ce que cela implique pour vos données.
guide-why-q = Pourquoi connecter mes comptes ?
guide-why-a = La connexion permet à l’entreprise qui vous a envoyé ici de consulter des chiffres à jour, directement à la source, sans que vous ayez à rassembler et envoyer des documents. Cela peut accélérer l’étude de votre demande et améliorer l’offre que vous recevez.
guide-how-q = Comment ça marche ?
guide-how-a = Vous choisissez une plateforme, lisez exactement quelles données seront utilisées et pourquoi, cochez la case pour donner votre accord, puis vous vous identifiez sur le site de la plateforme pour confirmer. Cela prend environ une minute.
guide-password-q = Voyez-vous mon mot de passe ?
guide-password-a = Non. Vous vous identifiez directement sur le site de la plateforme. Accord ne reçoit qu’une clé d’accès limitée et révocable, conservée chiffrée.
guide-what-q = Quelles données sont utilisées ?
guide-what-a = Uniquement les types de données indiqués sur l’écran de consentement, dans le sens indiqué : en lecture depuis la plateforme ou en écriture vers elle. Rien d’autre n’est demandé.
guide-disconnect-q = Puis-je changer d’avis ?
guide-disconnect-a = Oui, à tout moment, même pour une connexion ponctuelle. Couper l’accès arrête aussitôt le partage et détruit la clé d’accès.
guide-trouble-q = Ça n’a pas marché. Que faire ?
guide-trouble-a = Réessayez depuis la liste des plateformes. Si le problème persiste, envoyez une demande d’assistance depuis n’importe quelle page : les détails techniques y sont joints pour vous.

## Page de confidentialité d'Accord
privacy-title = Comment vos données sont traitées
privacy-lead = Ce service de connexion repose sur Accord, un logiciel libre conçu autour de votre consentement.
privacy-point-consent = Rien n’est partagé tant que vous n’avez pas coché la case et confirmé sur le site de la plateforme.
privacy-point-tokens = Les clés d’accès sont chiffrées au repos et ne sont jamais montrées à personne.
privacy-point-minimal = Seuls les types de données indiqués sur l’écran de consentement sont demandés.
privacy-point-withdraw = Vous pouvez couper l’accès à tout moment ; la clé d’accès est aussitôt détruite et révoquée auprès de la plateforme.
privacy-point-proof = Chaque accord est enregistré avec le texte exact que vous avez vu, pour pouvoir être prouvé plus tard.
privacy-contact = Pour toute question sur l’usage de vos données par l’entreprise qui vous a envoyé ici, utilisez les coordonnées ci-dessous.

## Conditions intégrées (les clients publient leurs propres versions)
notice-default-purpose-accounting = Comprendre la situation financière de votre entreprise et étudier votre demande.
notice-default-purpose-banking = Vérifier les soldes et la trésorerie de votre entreprise lors de l’étude de votre demande.
notice-default-purpose-commerce = Comprendre les ventes et les versements de votre entreprise lors de l’étude de votre demande.
notice-default-retention = Tant que votre demande ou votre compte est ouvert, puis suppression sous 12 mois.
notice-default-sharing = Jamais partagées avec des tiers sans votre consentement.
notice-default-withdrawal = Coupez l’accès à tout moment depuis la page qui liste vos connexions, grâce au lien personnel indiqué sur la page de confirmation et dans votre justificatif ; le partage s’arrête aussitôt.

## Justificatifs
receipt-title = Votre justificatif de consentement
receipt-lead = Ce que vous avez accepté avec { $tenant } au sujet de votre compte { $platform }, et quand. Il est signé : chacun peut vérifier qu’il n’a pas été modifié.
receipt-events = Ce qui s’est passé
receipt-event-given = Consentement donné
receipt-event-withdrawn = Consentement retiré
receipt-event-reconsented = Consentement donné de nouveau
receipt-event-expired = Consentement expiré
receipt-event-nda-accepted = Accord de confidentialité mutuel signé
receipt-event-superseded = Consentement remplacé par un plus récent
receipt-position = entrée { $position } du registre des consentements de { $tenant }
receipt-download = Télécharger le justificatif signé
receipt-download-proof = Télécharger une preuve récente qu’il figure toujours au registre
receipt-hash = Code de preuve de cette entrée :
receipt-text-heading = Les conditions exactes que vous avez acceptées
receipt-verify-heading = Pour un conseiller technique : comment le vérifier
receipt-verify-body = Le justificatif téléchargé est un document JSON : le justificatif signé (JWS, EdDSA) et la preuve que cette entrée figure au registre des consentements tel qu’il a été signé peu après votre action (une preuve de Merkle RFC 9162 sous un point de contrôle signé). La preuve récente montre que le registre d’aujourd’hui la contient toujours, inchangée. Les deux se vérifient avec les clés publiques publiées sur /.well-known/jwks.json, par exemple avec la commande « accord receipt verify JUSTIFICATIF --proof PREUVE ». Les codes de preuve ci-dessus sont des empreintes SHA-256.
connection-receipt = Voir et télécharger votre justificatif

## Accord de confidentialité mutuel (facultatif, distinct du consentement)
nda-offer-heading = Accord de confidentialité mutuel
nda-offer-body = { $tenant } propose aussi un accord de confidentialité mutuel. Il est facultatif et distinct : vous pouvez connecter vos comptes sans lui.
nda-offer-link = Lire et signer l’accord de confidentialité mutuel de { $tenant } (facultatif)
nda-title = Accord de confidentialité mutuel
nda-lead = La signature est facultative et sans effet sur vos connexions. Lisez l’accord proposé par { $tenant }, puis signez-le si vous le souhaitez.
nda-back = Retour
nda-document-heading = L’accord
nda-signatory = Déjà signé pour l’autre partie par { $signatory }.
nda-signer-name = Vos nom et prénom
nda-signer-title = Votre fonction
nda-accept = J’accepte cet accord et le signe au nom de mon entreprise
nda-optional-note = Cet accord est facultatif : il n’est pas nécessaire pour connecter vos comptes.
nda-sign = Signer
nda-not-now = Pas maintenant
nda-error-name = Indiquez vos nom et prénom (200 caractères au plus).
nda-error-title = Indiquez votre fonction (200 caractères au plus).
nda-error-unticked = Pour signer, cochez la case afin d’indiquer que vous acceptez l’accord. Rien n’a été signé.
nda-done-title = Accord signé
nda-done-lead = Signé par { $signer } le { $date }. Gardez-en une copie : les deux fichiers ci-dessous sont votre preuve.
nda-download-pdf = Télécharger l’accord signé (PDF)
nda-download-receipt = Télécharger son justificatif signé
nda-hash = Code de preuve du document (SHA-256) :
nda-continue = Continuer
nda-manage-heading = Accords de confidentialité mutuels
nda-manage-item = Accord de confidentialité mutuel signé le { $date }
nda-pdf-signatures = Signatures
nda-pdf-party = Pour { $party } : { $name }, { $title }
nda-pdf-date = Signé électroniquement le { $date }
nda-pdf-hash = Code de preuve du document (SHA-256 du texte signé) : { $hash }
nda-pdf-ledger = Enregistré comme entrée { $position } du registre des consentements, avec un justificatif signé.

## Parcours intégré (la fenêtre du SDK sur le site du client)
embed-continue-title = Un instant…
embed-continue = Continuer
embed-done-title = Retour à votre demande
embed-done-body = Vous pouvez fermer cette fenêtre et reprendre votre demande.
embed-exit-title = Quitter sans terminer ?
embed-exit-body = Rien de plus ne sera partagé. Ce que vous avez déjà connecté reste connecté, et vous pouvez en couper l’accès à tout moment.
embed-exit-stay = Rester
embed-exit-leave = Quitter

## Réglages du parcours : catégories, variables, quitter en cours de route
category-requested = Demandé par { $tenant }
category-optional = Facultatif
placeholder-company = votre entreprise
placeholder-platform = votre plateforme
exit-button = Quitter
exit-title = Quitter sans terminer ?
exit-question = Vous pourrez revenir avec le même lien tant qu’il est valide. Quitter ne partage rien de plus avec { $tenant }, et ce que vous avez connecté reste sous votre contrôle : vous pouvez en couper l’accès à tout moment.
exit-question-embedded = Quitter ne partage rien de plus avec { $tenant }, et ce que vous avez connecté reste sous votre contrôle : vous pouvez en couper l’accès à tout moment. Pour connecter un compte plus tard, recommencez depuis le site de { $tenant }.
exit-stay = Revenir
exit-confirm = Oui, quitter
finished-exited-title = Vous avez quitté le parcours avant la fin

## Organisation connectée, journal des accès, échéance
success-replaced = Cette connexion remplace la précédente à { $connection } : son accès a été supprimé.
connection-ends = Votre accord prend fin le { $date }.
connection-renew = Le renouveler maintenant
manage-pending-note = L’identification sur { $platform } n’a pas été terminée : rien n’est encore partagé. Pour partager, connectez de nouveau votre compte.
organisation-question-title = Une autre organisation
organisation-question-lead = Cette connexion concernait { $previous }, mais vous venez de vous identifier pour { $new }. Que souhaitez-vous faire ?
organisation-question-keep = Garder { $previous }
organisation-question-new = Ajouter aussi { $new }
organisation-question-hint = Si vous gardez l’organisation précédente, l’accès que vous venez de donner à la nouvelle est aussitôt coupé. Rien d’autre ne change.
organisation-kept-title = Votre connexion précédente est conservée
organisation-kept-body = Votre connexion à { $previous } est conservée. L’accès que vous venez de donner à { $new } a été coupé.
access-heading = Données consultées
access-empty = Aucune donnée n’a encore été consultée via cette connexion.
access-older = Plus anciens
access-newest = Plus récents
access-download = Télécharger au format CSV
access-read = Consultation : { $data }
access-write = Ajout : { $data }
access-proxy = Requête directe à la plateforme
access-credential = Clé d’accès remise à { $tenant }
access-records = { $count ->
    [one] { $count } enregistrement
   *[other] { $count } enregistrements
}
access-refused-not-consented = Refusé : non couvert par votre accord
access-refused-withdrawn = Refusé : vous aviez coupé l’accès
access-refused-expired = Refusé : votre accord avait pris fin
access-refused-reconsent-required = Refusé : en attente de votre nouvel accord
access-refused-deauthorized = Refusé : la plateforme avait mis fin à l’accès
access-platform-error = Rien n’a été partagé : la plateforme a répondu par une erreur
error-too-large-title = Ce texte est trop long
error-too-large-body = Rien n’a été enregistré. Revenez en arrière et envoyez un texte plus court.

## Ce que le client peut faire des données
uses-read-only = { $tenant } peut seulement consulter ces données ; il ne peut rien modifier dans votre compte { $platform } ni déplacer d’argent.
uses-can-write = { $tenant } peut aussi ajouter des données dans votre compte { $platform } : les lignes marquées « en écriture vers { $platform } ». Il ne peut rien y faire d’autre.

## Le lien personnel vers la page de gestion (valable tant qu'un accord est en vigueur)
manage-link-heading = Votre lien personnel pour revenir
manage-link-body = Gardez ce lien pour voir vos connexions, ou couper l’accès, à tout moment. Il fonctionne tant qu’un de vos accords avec { $tenant } est en vigueur. Ne le partagez pas : quiconque l’a en main peut couper l’accès à vos comptes.
manage-link-label = Votre lien personnel
manage-link-rotated = Ce lien est nouveau : celui que vous avez utilisé pour venir ici ne fonctionne plus. Gardez celui-ci.
manage-come-back = Pour revenir plus tard, utilisez le lien personnel indiqué sur cette page, sur votre page de confirmation et dans votre justificatif. { $tenant } peut aussi vous en envoyer un nouveau.
label-colon =  :
manage-return-title = Voir vos connexions
manage-return-lead = Ce lien personnel ouvre la page où { $company } voit ce qu’elle partage avec { $tenant }, et peut en couper l’accès.
manage-return-open = Ouvrir mes connexions

## Courriel : un nouveau lien personnel vers la page de gestion, envoyé au client à la demande du prestataire
manage-link-mail-subject = Votre lien personnel pour gérer ce que vous partagez avec { $tenant }
manage-link-mail-greeting = Bonjour,
manage-link-mail-intro = { $tenant } vous a envoyé un lien personnel vers la page où { $company } voit ce qu’elle partage avec { $tenant }.
manage-link-mail-what = Sur cette page, vous pouvez voir chaque connexion et ce qu’elle partage, retirer l’accès (couper la connexion) à tout moment et télécharger vos justificatifs de consentement :
manage-link-mail-personal = Ce lien est personnel : quiconque l’a en main peut couper l’accès à vos comptes, ne le transférez donc pas. Il fonctionne tant qu’un de vos accords avec { $tenant } est en vigueur.
manage-link-mail-support = Des questions ? Contactez { $tenant } : { $contact }
manage-link-mail-no-support = Des questions ? Contactez { $tenant } comme d’habitude.
manage-link-mail-footer = Envoyé par Accord pour { $tenant }. Si vous n’attendiez pas ce courriel, vous pouvez l’ignorer.

## Page d’erreur : la base de données est momentanément indisponible (503, Retry-After)
error-unavailable-title = Service momentanément indisponible
error-unavailable-body = Ce service est momentanément indisponible : cette étape n’a pas pu aboutir. Rien n’a été partagé. Réessayez dans un instant.

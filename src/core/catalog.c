#include <string.h>

#include "core/catalog.h"

/* Samples are the seeds' own payloads where they give one (Blackspace's
 * post.published and analytics.updated, Oktopost's postSent and
 * newAssignment, SocialSyncerAPI's post payload); elsewhere, the fields the
 * seeds describe. */
const struct catalog_entry catalog[] = {
    {"post.published", "A post was published to one or more platforms.",
     "{\"post_id\":\"post_abc123\",\"platforms\":[\"instagram\",\"x\"],"
     "\"published_at\":\"2025-10-05T14:30:00Z\",\"urls\":{\"instagram\":"
     "\"https://instagram.com/p/abc123\",\"x\":\"https://x.com/user/status/456\"}}"},
    {"post.scheduled", "A post was scheduled for future publishing.",
     "{\"post_id\":\"post_abc123\",\"platforms\":[\"instagram\"],"
     "\"scheduled_for\":\"2025-10-06T09:00:00Z\"}"},
    {"post.failed", "A post failed to publish.",
     "{\"post_id\":\"post_abc123\",\"platform\":\"instagram\",\"status\":\"failed\","
     "\"error\":{\"code\":\"media_rejected\",\"message\":\"The video exceeds 90 seconds.\"}}"},
    {"post.deleted", "A post was deleted from the platform.",
     "{\"post_id\":\"post_abc123\",\"deleted_at\":\"2025-10-05T16:00:00Z\"}"},
    {"analytics.updated", "Analytics were updated for a post (hourly).",
     "{\"post_id\":\"post_abc123\",\"metrics\":{\"views\":5420,\"likes\":312,\"comments\":24,"
     "\"shares\":45,\"engagement_rate\":7.2},\"platforms\":{\"instagram\":{\"views\":3200,"
     "\"likes\":201},\"x\":{\"views\":2220,\"likes\":111}}}"},
    {"analytics.milestone", "A post reached a milestone (1K, 10K, 100K views…).",
     "{\"post_id\":\"post_abc123\",\"milestone\":\"views\",\"threshold\":10000,"
     "\"value\":10342,\"reached_at\":\"2025-10-06T11:00:00Z\"}"},
    {"account.connected", "A social account was connected.",
     "{\"account_id\":\"acc_123\",\"platform\":\"instagram\",\"username\":\"blackspace\"}"},
    {"account.disconnected", "A social account was disconnected.",
     "{\"account_id\":\"acc_123\",\"platform\":\"instagram\",\"reason\":\"revoked\"}"},
    {"account.token_expired", "An OAuth token expired and needs renewal.",
     "{\"account_id\":\"acc_123\",\"platform\":\"x\",\"expired_at\":\"2025-10-05T00:00:00Z\","
     "\"action\":\"Reconnect the account in Settings → Accounts.\"}"},
    {"account.added", "An account was added to the workspace.",
     "{\"account_id\":\"acc_123\",\"platform\":\"linkedin\"}"},
    {"account.updated", "An account of the workspace was updated.",
     "{\"account_id\":\"acc_123\",\"platform\":\"linkedin\"}"},
    {"account.deleted", "An account was removed from the workspace.",
     "{\"account_id\":\"acc_123\",\"platform\":\"linkedin\"}"},
    {"feed.text.received", "A new text review was received.",
     "{\"feed_id\":\"fd_1\",\"type\":\"text\",\"name\":\"Ada\",\"rating\":5,"
     "\"text\":\"Great product!\"}"},
    {"feed.video.received", "A new video review was received.",
     "{\"feed_id\":\"fd_2\",\"type\":\"video\",\"name\":\"Grace\","
     "\"video_url\":\"https://cdn.example.com/v/2.mp4\"}"},
    {"feed.audio.received", "A new audio review was received.",
     "{\"feed_id\":\"fd_3\",\"type\":\"audio\",\"name\":\"Linus\","
     "\"audio_url\":\"https://cdn.example.com/a/3.mp3\"}"},
    {"newAdvocacyMessage", "A new message was added to the advocacy board.",
     "{\"messageId\":\"0AM000000000001\",\"boardId\":\"0AB000000000001\"}"},
    {"newAdvocacyStory", "A new story was added to the advocacy board.",
     "{\"storyId\":\"0AS000000000001\",\"boardId\":\"0AB000000000001\"}"},
    {"newAdvocacyTopic", "A new topic was added to the advocacy board.",
     "{\"topicId\":\"0AT000000000001\",\"boardId\":\"0AB000000000001\"}"},
    {"postCreated", "A user created a new post.",
     "{\"postId\":\"0PL000000000001\",\"network\":\"LinkedIn\"}"},
    {"postModified", "A user updated a scheduled post.",
     "{\"postId\":\"0PL000000000001\",\"network\":\"LinkedIn\"}"},
    {"postDeleted", "A user deleted a scheduled post.", "{\"postId\":\"0PL000000000001\"}"},
    {"postSent", "A post was published to social media.",
     "{\"postId\":\"0PL000000000001\",\"network\":\"LinkedIn\",\"campaignId\":"
     "\"002000000000001\",\"sentAt\":\"2024-01-15 10:30:00\"}"},
    {"newConversation", "A new conversation appeared in the inbox.",
     "{\"conversationId\":\"123456\",\"network\":\"Twitter\"}"},
    {"conversationUpdated", "New comments or replies were added to a conversation.",
     "{\"conversationId\":\"123456\"}"},
    {"conversationStatusUpdated", "A conversation's status changed.",
     "{\"conversationId\":\"123456\",\"status\":\"closed\"}"},
    {"newNoteOnConversation", "A note was added to a conversation.",
     "{\"conversationId\":\"123456\",\"note\":\"Follow up Monday\"}"},
    {"newAssignment", "A conversation was assigned to a user.",
     "{\"conversationId\":\"123456\",\"assignedTo\":\"user@example.com\","
     "\"assignedBy\":\"manager@example.com\",\"assignedAt\":\"2024-01-15 10:30:00\"}"},
    {"newLead", "A new lead was captured.",
     "{\"leadId\":\"0LD000000000001\",\"email\":\"lead@example.com\"}"},
    {"newLeadActivity", "New social activity was detected for a lead.",
     "{\"leadId\":\"0LD000000000001\",\"activity\":\"click\"}"},
    {"newConversion", "A social conversion was captured.",
     "{\"conversionId\":\"0CV000000000001\",\"value\":42}"},
    {"newApprovalItem", "Posts or messages were sent to approval.",
     "{\"itemId\":\"0AP000000000001\"}"},
    {"approvalItemApproved", "Posts or messages were approved.",
     "{\"itemId\":\"0AP000000000001\",\"approvedBy\":\"manager@example.com\"}"},
    {"approvalItemRejected", "Posts or messages were rejected.",
     "{\"itemId\":\"0AP000000000001\",\"rejectedBy\":\"manager@example.com\"}"},
    {"newCampaign", "A new campaign was created.",
     "{\"campaignId\":\"002000000000001\",\"name\":\"Launch\"}"},
    {"webhook.disabled", "herald disabled a webhook (410 Gone, or failing for days).",
     "{\"webhook_id\":\"wh_01J0000000000000000000000\",\"reason\":\"gone\","
     "\"url\":\"https://example.com/webhook\"}"},
    {"delivery.exhausted", "A delivery used all its attempts and failed.",
     "{\"delivery_id\":\"dlv_01J0000000000000000000000\",\"webhook_id\":"
     "\"wh_01J0000000000000000000000\",\"event_id\":\"evt_01J0000000000000000000000\","
     "\"event_type\":\"post.published\",\"attempts\":4,\"last_response_code\":500,"
     "\"last_error\":\"http\"}"},
    {"webhook.test", "A test event sent from the API or the dashboard.",
     "{\"message\":\"This is a test event from herald.\"}"},
};

const size_t catalog_len = sizeof catalog / sizeof catalog[0];

const struct catalog_entry *catalog_find(const char *name)
{
    for (size_t i = 0; i < catalog_len; i++)
        if (strcmp(catalog[i].name, name) == 0)
            return &catalog[i];
    return NULL;
}
